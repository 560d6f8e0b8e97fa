-- wrk script for benchmarks/load.py: a mixed workload on one account's items.
--   every 5th request creates an item with a title unique across threads ("load-<thread>-<n>"),
--   every 250th logs one of the other accounts in, the rest read the first page of items.
-- Arguments: <access token> <number of login accounts> <url-encoded password>
-- done() prints one JSON line the benchmark parses: rate, latency percentiles, status counts.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  auth = "Bearer " .. args[1]
  accounts = tonumber(args[2])
  password = args[3]
  sent, created, logins, client_errors, server_errors = 0, 0, 0, 0, 0
end

function request()
  sent = sent + 1
  if sent % 250 == 0 then
    local email = string.format("load-%d%%40example.com", (math.floor(sent / 250) + number) % accounts)
    return wrk.format("POST", "/api/v1/auth/token", { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "username=" .. email .. "&password=" .. password)
  elseif sent % 5 == 0 then
    local body = string.format('{"title": "load-%d-%d", "description": "created under load"}', number, sent)
    return wrk.format("POST", "/api/v1/items", { ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
  end
  return wrk.format("GET", "/api/v1/items?limit=20", { ["Authorization"] = auth })
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 200 and string.find(body, "access_token", 1, true) then
    logins = logins + 1
  elseif status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  end
end

function done(summary, latency, requests)
  local totals = { created = 0, logins = 0, client_errors = 0, server_errors = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + thread:get(key)
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "non_2xx": %d, ' ..
    '"socket_errors": %d, "created": %d, "logins": %d, "client_errors": %d, "server_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, errors.status, errors.connect + errors.read + errors.write + errors.timeout,
    totals.created, totals.logins, totals.client_errors, totals.server_errors))
end
