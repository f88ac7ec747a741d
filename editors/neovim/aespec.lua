-- aespec in Neovim 0.7 and later (Debian 12 ships 0.7.2): the `aespec` filetype for *.ae,
-- `#` comments, and `aespec lsp` attached to every aespec buffer (diagnostics as you type,
-- hover, completion, go to definition, formatting).
--
-- Install: copy this file to ~/.config/nvim/plugin/aespec.lua (or `dofile` it from
-- init.lua). The server command defaults to { "aespec", "lsp" }; set
--   vim.g.aespec_lsp_cmd = { "/path/to/.venv/bin/aespec", "lsp" }
-- before it runs where aespec is not on PATH.

local function server_cmd()
  return vim.g.aespec_lsp_cmd or { "aespec", "lsp" }
end

-- the folder holding .git or pyproject.toml above the file, else the working directory
local function root_of(bufnr)
  local dir = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":p:h")
  for _, marker in ipairs({ ".git", "pyproject.toml" }) do
    local found = vim.fn.findfile(marker, dir .. ";")
    if found == "" then
      found = vim.fn.finddir(marker, dir .. ";")
    end
    if found ~= "" then
      return vim.fn.fnamemodify(found, ":p:h:h")
    end
  end
  return vim.fn.getcwd()
end

-- `autocmd ... setfiletype` works on every version (vim.filetype.add needs 0.8 to be on)
vim.cmd([[
  augroup aespec_filetype
    autocmd!
    autocmd BufRead,BufNewFile *.ae setfiletype aespec
  augroup END
]])

local clients = {} -- root folder -> client id (0.7 has no vim.lsp.start to reuse one)

local function attach(bufnr)
  vim.api.nvim_buf_set_option(bufnr, "commentstring", "# %s")
  local root = root_of(bufnr)
  if vim.lsp.start then -- 0.8 and later: one client per root, reused
    vim.lsp.start({ name = "aespec", cmd = server_cmd(), root_dir = root }, { bufnr = bufnr })
    return
  end
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client({ name = "aespec", cmd = server_cmd(), root_dir = root })
    clients[root] = id
  end
  if id ~= nil then
    vim.lsp.buf_attach_client(bufnr, id)
  end
end

vim.cmd([[
  augroup aespec_lsp
    autocmd!
    autocmd FileType aespec lua _G.aespec_attach(tonumber(vim.fn.expand("<abuf>")))
  augroup END
]])
_G.aespec_attach = attach
