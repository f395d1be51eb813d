\set k random(0, 999)
INSERT INTO edge_run.kv AS kv (binding, key, value, metadata, expires_at, version) VALUES ('KV', convert_to('k' || :k, 'UTF8'), convert_to(repeat('v', 100), 'UTF8'), NULL, NULL, nextval('edge_run.kv_version')) ON CONFLICT (binding, key) DO UPDATE SET value = EXCLUDED.value, metadata = EXCLUDED.metadata, expires_at = EXCLUDED.expires_at, version = EXCLUDED.version;
