-- Rotates the Authorization header over a pool of tokens, one line each in the file named by
-- the first script argument, in order: with one wrk thread, request i carries token i mod N.
local tokens = {}
local next_index = 1
local host = "api.bench.test"

-- Requests are formatted once, in init, so wrk spends its core sending, not building.
function init(args)
  if args[2] then host = args[2] end
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = wrk.format("GET", "/orders", { ["Host"] = host, ["Authorization"] = "Bearer " .. line })
    end
  end
end

function request()
  local formatted = tokens[next_index]
  next_index = next_index + 1
  if next_index > #tokens then next_index = 1 end
  return formatted
end
