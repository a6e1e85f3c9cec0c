# Turns the help pages (tools/xbpf/help/*.txt) into help_pages.inc: one
# `{"name", R"xbpf_help(text)xbpf_help"},` row per page, which cmd_help.cpp
# includes inside an array initializer. Raw string literals keep the text
# byte for byte, so no escaping is needed; a page may not contain the closing
# delimiter, which is checked here.
#   cmake -DHELP_DIR=<dir of .txt> -DOUT=<file.inc> -P embed_help.cmake
if(NOT HELP_DIR OR NOT OUT)
  message(FATAL_ERROR "usage: cmake -DHELP_DIR=DIR -DOUT=FILE -P embed_help.cmake")
endif()
file(GLOB pages ${HELP_DIR}/*.txt)
list(SORT pages)
set(text "// Generated from tools/xbpf/help/*.txt by tools/xbpf/embed_help.cmake: edit the pages, not this file.\n")
foreach(page IN LISTS pages)
  get_filename_component(name ${page} NAME_WE)
  file(READ ${page} body)
  string(FIND "${body}" ")xbpf_help\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${page}: contains the raw string delimiter )xbpf_help\"")
  endif()
  string(APPEND text "{\"${name}\", R\"xbpf_help(${body})xbpf_help\"},\n")
endforeach()
file(WRITE ${OUT} "${text}")
