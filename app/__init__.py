"""dict-connect: the participant-side connector to the central bank's DICT."""
