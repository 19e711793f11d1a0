-- A small TOML writer for settings tables, so that :checkhealth can hand the editor's settings to
-- the `freescode` CLI (FREESCODE_CONFIG) and let the server's own code validate them.
local M = {}

local function quote(s)
  s = s:gsub("[\\\"]", "\\%0"):gsub("[%c]", function(c)
    return ("\\u%04X"):format(c:byte())
  end)
  return '"' .. s .. '"'
end

local function key(k)
  k = tostring(k)
  if k:match("^[A-Za-z0-9_-]+$") then
    return k
  end
  return quote(k)
end

local function is_list(t)
  return type(t) == "table" and vim.islist(t) and next(t) ~= nil
end

local function is_table_list(t)
  if not is_list(t) then
    return false
  end
  for _, item in ipairs(t) do
    if type(item) ~= "table" then
      return false
    end
  end
  return true
end

local function scalar(v)
  local kind = type(v)
  if kind == "string" then
    return quote(v)
  elseif kind == "boolean" then
    return tostring(v)
  elseif kind == "number" then
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      return ("%d"):format(v)
    end
    local text = ("%.15g"):format(v)
    return text:find("[.eEn]") and text or text .. ".0"
  elseif kind == "table" then
    local items = {}
    for _, item in ipairs(v) do
      table.insert(items, scalar(item))
    end
    return "[" .. table.concat(items, ", ") .. "]"
  end
  error(("cannot write a %s to TOML"):format(kind))
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function emit(lines, path, t)
  local tables = {}
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    if v == vim.NIL or (type(v) == "table" and next(v) == nil) then
      -- nothing: nulls and empty tables leave the default in place
    elseif type(v) == "table" and (not is_list(v) or is_table_list(v)) then
      table.insert(tables, k)
    else
      table.insert(lines, ("%s = %s"):format(key(k), scalar(v)))
    end
  end
  for _, k in ipairs(tables) do
    local v = t[k]
    local name = path .. (path == "" and "" or ".") .. key(k)
    if is_table_list(v) then
      for _, item in ipairs(v) do
        table.insert(lines, ("[[%s]]"):format(name))
        emit(lines, name, item)
      end
    else
      table.insert(lines, ("[%s]"):format(name))
      emit(lines, name, v)
    end
  end
end

--- The settings table as TOML text.
function M.encode(t)
  local lines = {}
  emit(lines, "", t or {})
  return table.concat(lines, "\n") .. "\n"
end

return M
