# install.cmake: `cmake --install` puts medic under bin/ and the programs medic chaos and medic demo
# run under libexec/medic/, and nothing else (`cmake -DBUILD=<build dir> -DTMP=<scratch dir> -P
# install.cmake`, the ctest entry unit.install).
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
set(want bin/medic libexec/medic/fake_railway libexec/medic/flaky_service libexec/medic/medic-chaos
  libexec/medic/relay)
list(SORT installed)
if(NOT installed STREQUAL "${want}")
  file(REMOVE_RECURSE ${TMP})
  message(FATAL_ERROR "install: expected exactly ${want}, got: ${installed}")
endif()
# The installed medic finds its helpers: `medic chaos --list` runs the installed harness.
execute_process(COMMAND ${TMP}/bin/medic chaos --list RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
file(REMOVE_RECURSE ${TMP})
if(NOT rc EQUAL 0 OR NOT out MATCHES "crash")
  message(FATAL_ERROR "install: the installed `medic chaos --list` failed (${rc}):\n${out}")
endif()
message("install: ok (${want}; medic chaos finds its harness)")
