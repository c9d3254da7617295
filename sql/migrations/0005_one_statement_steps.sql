-- Tags for state_history set from inside a statement, so that a step can be one
-- statement (and one round trip): `WITH tagged AS (SELECT dict_tag(…) AS ok) INSERT …
-- SELECT … FROM tagged WHERE tagged.ok`. The INSERT's rows come from `tagged`, so the
-- settings are in place before any row trigger reads them. Same settings as
-- app.db.set_tags (spine.set_tags), transaction-local.
CREATE FUNCTION dict_tag(actor text, trigger text, reason text, now timestamptz)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    SELECT set_config('dict.actor', actor, true) IS NOT NULL
       AND set_config('dict.trigger', trigger, true) IS NOT NULL
       AND set_config('dict.reason', reason, true) IS NOT NULL
       AND set_config('dict.now', now::text, true) IS NOT NULL
$$;
