-- wrk script for scripts/bench-stripe: POSTs pre-signed Stripe deliveries, each with its own
-- event id so dedupe never short-circuits. The pool (one file per wrk thread, lines of
-- "<Stripe-Signature>\t<body>") is written by scripts/bench-stripe with Python's hmac/hashlib;
-- STRIPE_BENCH_POOL names its prefix. A thread that runs out starts over (its repeats are then
-- duplicates: the script sizes the pool so that this does not happen and checks it).
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  for line in io.lines(os.getenv("STRIPE_BENCH_POOL") .. "." .. tid) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", "/webhooks/stripe",
      { ["Content-Type"] = "application/json", ["Stripe-Signature"] = sig }, body)
  end
  i = 0
end

function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
