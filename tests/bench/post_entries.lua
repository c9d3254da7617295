-- wrk script: POST /v1/entries (or WRK_PATH: the ceiling's /bench/entries) with a distinct
-- phone key per request.
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  -- distinct per run and per thread: +55 <run 2 digits> <thread> 9 <counter 7 digits>
  prefix = string.format("+55%02d%d9", tonumber(os.getenv("WRK_RUN") or "10"), tid)
  key = os.getenv("API_KEY")
  path = os.getenv("WRK_PATH") or "/v1/entries"
end

function request()
  counter = counter + 1
  local body = '{"key_type":"PHONE","key":"' .. prefix .. string.format("%07d", counter) ..
    '","account":{"participant":"12345678","branch":"1","account_number":"123456",' ..
    '"account_type":"CACC","opening_date":"2020-03-01T03:00:00Z"},' ..
    '"owner":{"type":"NATURAL_PERSON","tax_id":"52998224725","name":"Maria da Silva"}}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
  }, body)
end
