-- wrk script: GET /v1/lookups/{key} with the next key, payer and end-to-end id per request.
-- Environment: API_KEY, LOOKUP_KEYS and LOOKUP_PAYERS (files, one per line), WRK_THREADS,
-- WRK_RUN (one letter: end-to-end ids distinct per run), LOOKUPS_PER_PAYER.
-- Request n of the run (threads interleaved) takes key n and payer n / LOOKUPS_PER_PAYER,
-- wrapping around the files. Every status other than 200 is counted, printed by done().
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local function lines(path)
  local found = {}
  for line in io.lines(path) do
    if line ~= "" then
      found[#found + 1] = line
    end
  end
  return found
end

function init(args)
  auth = { ["Authorization"] = "Bearer " .. os.getenv("API_KEY") }
  keys = lines(os.getenv("LOOKUP_KEYS"))
  payers = lines(os.getenv("LOOKUP_PAYERS"))
  nthreads = tonumber(os.getenv("WRK_THREADS"))
  per_payer = tonumber(os.getenv("LOOKUPS_PER_PAYER") or "10")
  e2e = "E12345678202612031200" .. os.getenv("WRK_RUN") .. tid
  counter = 0
  statuses = {}
end

function request()
  local n = counter * nthreads + tid
  counter = counter + 1
  local key = keys[n % #keys + 1]
  local payer = payers[math.floor(n / per_payer) % #payers + 1]
  local path = "/v1/lookups/" .. key .. "?payer_id=" .. payer ..
    "&end_to_end_id=" .. e2e .. string.format("%09d", counter)
  return wrk.format("GET", path, auth)
end

function response(status, headers, body)
  if status ~= 200 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    parts[#parts + 1] = status .. "=" .. n
  end
  io.write("statuses: " .. table.concat(parts, ",") .. "\n")
end
