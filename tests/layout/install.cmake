# install.cmake: `cmake --install` puts medic, and nothing else, under a prefix
# (`cmake -DBUILD=<build dir> -DTMP=<scratch dir> -P install.cmake`, the ctest entry unit.install).
if(NOT BUILD OR NOT TMP)
  message(FATAL_ERROR "usage: cmake -DBUILD=<build dir> -DTMP=<scratch dir> -P install.cmake")
endif()
file(REMOVE_RECURSE ${TMP})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${TMP}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "install: cmake --install failed (${rc}):\n${out}")
endif()
file(GLOB_RECURSE installed RELATIVE ${TMP} ${TMP}/*)
file(REMOVE_RECURSE ${TMP})
if(NOT installed STREQUAL "bin/medic")
  message(FATAL_ERROR "install: expected exactly bin/medic, got: ${installed}")
endif()
message("install: ok (bin/medic)")
