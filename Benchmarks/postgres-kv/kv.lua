-- wrk script for scripts/bench-postgres-kv: KV_BENCH_OP=get reads, =put writes a 100-byte value,
-- each request on a random key of KV_BENCH_KEYS (default 1000) seeded beforehand.
local op = os.getenv("KV_BENCH_OP") or "get"
local keys = tonumber(os.getenv("KV_BENCH_KEYS") or "1000")
local body = string.rep("v", 100)
math.randomseed(os.time())
request = function()
  local path = "/kv/KV/values/k" .. math.random(0, keys - 1)
  local headers = { ["Authorization"] = "Bearer bench-token" }
  if op == "put" then
    return wrk.format("PUT", path, headers, body)
  end
  return wrk.format("GET", path, headers)
end
