-- wrk script for `make bench`: GET /api/v1/products/{id} over the seeded catalogue.
-- WRK_DELAY_MS > 0 paces each connection (used for the fixed-rate runs): before each request,
-- its first included, a random pause with that mean (exponentially distributed), so that the
-- connections' requests arrive independently, like users' (a Poisson stream at connections /
-- pause). A fixed pause would keep them in step: every connection starts at once, and the
-- server would see the same burst of all of them again every pause.
-- Prints one JSON line of results at the end.
local max_id = tonumber(os.getenv("MAX_PRODUCT_ID") or "1200")
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
end

function init(args)
  math.randomseed(os.time() + (seed or 0))
end

function request()
  return wrk.format("GET", "/api/v1/products/" .. math.random(1, max_id))
end

if delay_ms > 0 then
  function delay() return math.floor(-math.log(1 - math.random()) * delay_ms + 0.5) end
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "errors": %d, "non_2xx": %d, "p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, errors, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
