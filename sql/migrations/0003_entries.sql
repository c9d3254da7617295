-- Entries: the Pix keys of our customers, and the VSync of each key type.

CREATE TABLE entries (
    id               uuid PRIMARY KEY,
    key              text,              -- NULL while an EVP key waits for the DICT to generate it
    key_type         text NOT NULL CHECK (key_type IN ('CPF', 'CNPJ', 'PHONE', 'EMAIL', 'EVP')),
    -- registering: waiting for the DICT's answer to CreateEntry       (register_entry actor)
    -- active:      in the DICT; its CID is part of the VSync
    -- updating:    UpdateEntry sent, new data in `pending`             (update_entry actor)
    -- deleting:    DeleteEntry sent, reason in `pending`               (delete_entry actor)
    -- deleted:     removed from the DICT; its CID left the VSync       (terminal)
    -- rejected:    the DICT refused the creation; problem_type says why (terminal)
    status           text NOT NULL,
    participant      text NOT NULL,
    branch           text,
    account_number   text NOT NULL,
    account_type     text NOT NULL,
    opening_date     timestamptz NOT NULL,
    owner_type       text NOT NULL CHECK (owner_type IN ('NATURAL_PERSON', 'LEGAL_PERSON')),
    owner_tax_id     text NOT NULL,
    owner_name       text NOT NULL,
    owner_trade_name text,
    request_id       uuid NOT NULL UNIQUE,  -- creation RequestId: the HMAC key of the CID
    cid              text,                  -- set while the entry is in the DICT
    pending          jsonb,                 -- the update or deletion waiting for the DICT
    problem_type     text,                  -- the DICT's last refusal, kept by its DICT name
    problem_detail   text,
    version          integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT entries_key_required CHECK (key IS NOT NULL OR (key_type = 'EVP' AND status IN ('registering', 'rejected'))),
    CONSTRAINT entries_cid_when_in_dict CHECK ((cid IS NOT NULL) = (status IN ('active', 'updating', 'deleting')))
);
-- One live entry per key: a key may be registered again once deleted or rejected.
CREATE UNIQUE INDEX entries_live_key ON entries (key) WHERE status NOT IN ('deleted', 'rejected');
CREATE INDEX entries_account ON entries (participant, account_number, branch, account_type);
CREATE INDEX entries_owner ON entries (owner_tax_id);
CREATE INDEX entries_listing ON entries (created_at, id);

CREATE TRIGGER entries_enforce_transition
    BEFORE INSERT OR UPDATE OF status ON entries
    FOR EACH ROW EXECUTE FUNCTION enforce_transition('entry');
CREATE TRIGGER entries_record_transition
    AFTER INSERT OR UPDATE OF status ON entries
    FOR EACH ROW EXECUTE FUNCTION record_transition('entry');

-- The VSync of each key type: the XOR of the CIDs of our active entries, changed in
-- the same transaction as the entry. XOR is commutative, so each key type's VSync is
-- spread over 16 shard rows (a change XORs its CID into the shard its first byte
-- picks) and read as their bit_xor: concurrent transitions do not queue on one row
-- lock (docs/benchmarks.md). bit(256) has an XOR operator, #.
CREATE TABLE vsyncs (
    key_type   text NOT NULL CHECK (key_type IN ('CPF', 'CNPJ', 'PHONE', 'EMAIL', 'EVP')),
    shard      smallint NOT NULL CHECK (shard BETWEEN 0 AND 15),
    vsync      bit(256) NOT NULL DEFAULT repeat('0', 256)::bit(256),
    entries    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (key_type, shard)
);
INSERT INTO vsyncs (key_type, shard)
SELECT k, s FROM unnest(ARRAY['CPF', 'CNPJ', 'PHONE', 'EMAIL', 'EVP']) k, generate_series(0, 15) s;
