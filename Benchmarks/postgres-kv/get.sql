\set k random(0, 999)
SELECT value, metadata, expires_at, version FROM edge_run.kv WHERE binding = 'KV' AND key = convert_to('k' || :k, 'UTF8') AND (expires_at IS NULL OR expires_at > 1800000000);
