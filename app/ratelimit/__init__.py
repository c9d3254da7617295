"""Our side of the DICT's rate limits (DICT.md §4): buckets in Redis mirroring the
DICT's, so that no call of ours meets a 429."""
