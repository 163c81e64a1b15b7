# Writes the bash and zsh completion scripts with the freshly built binary (`autolua completion`),
# from the packaged recipes only: the builder's own AUTOLUA_RECIPES_PATH stays out of them.
#   cmake -DBIN=path/to/autolua -DOUT=dir -P completion.cmake
set(ENV{AUTOLUA_RECIPES_PATH} "")
set(ENV{AUTOLUA_PATH} "")
file(MAKE_DIRECTORY ${OUT})
foreach(shell bash zsh)
  if(shell STREQUAL "bash")
    set(file ${OUT}/autolua.bash)
  else()
    set(file ${OUT}/_autolua)
  endif()
  execute_process(COMMAND ${BIN} completion ${shell} OUTPUT_FILE ${file}.tmp RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    file(REMOVE ${file}.tmp)
    message(FATAL_ERROR "autolua completion ${shell} failed (${rc})")
  endif()
  file(RENAME ${file}.tmp ${file})
endforeach()
