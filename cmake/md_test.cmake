# md_test.cmake: md_test(), the one way a test is added, so every test has its label, its timeout,
# the skip code 77 and (for tests that start processes on fixed resources) RUN_SERIAL.
#
# md_test(<ctest name> [LABEL <label>] [TIMEOUT <s>] [SERIAL] [PASS_REGEX <re>]
#         [SOURCES <file>...] [LIBS <lib>...] [DEFINES <def>...] [DEPENDS <target>...]
#         [COMMAND <arg>...])
#
# The label defaults to the part of the name before the first dot ("unit.test_config" -> unit);
# the timeout to 120 s for unit tests and 300 s for the rest. With SOURCES the test is a program
# of its own, named after the part after the first dot, linked with LIBS and cmocka, and run
# without arguments; with COMMAND that command runs instead. Nothing is added when MEDIC_TESTS
# is off (a packager's build).
function(md_test name)
  if(NOT MEDIC_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "SERIAL" "LABEL;TIMEOUT;PASS_REGEX" "SOURCES;LIBS;DEFINES;DEPENDS;COMMAND" ${ARGN})
  string(REGEX REPLACE "\\..*$" "" prefix ${name})
  string(REGEX REPLACE "^[^.]*\\." "" exe ${name})
  if(NOT T_LABEL)
    set(T_LABEL ${prefix})
  endif()
  if(NOT T_TIMEOUT)
    if(T_LABEL STREQUAL "unit")
      set(T_TIMEOUT 120)
    else()
      set(T_TIMEOUT 300)
    endif()
  endif()
  if(T_SOURCES)
    add_executable(${exe} ${T_SOURCES})
    target_link_libraries(${exe} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
    if(T_DEFINES)
      target_compile_definitions(${exe} PRIVATE ${T_DEFINES})
    endif()
    if(T_DEPENDS)
      add_dependencies(${exe} ${T_DEPENDS})
    endif()
    add_test(NAME ${name} COMMAND ${exe} ${T_COMMAND})
  elseif(T_COMMAND)
    add_test(NAME ${name} COMMAND ${T_COMMAND})
  else()
    message(FATAL_ERROR "md_test(${name}): SOURCES or COMMAND is required")
  endif()
  set_tests_properties(${name} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77)
  if(T_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
  if(T_PASS_REGEX)
    set_tests_properties(${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_PASS_REGEX}")
  endif()
endfunction()

# md_module(<library> <folder> [PURE] SOURCES <file>... LIBS <lib>...): one node/ module, a static
# library whose public header is <folder>/<folder>.h, included as "<folder>/<folder>.h". PURE
# modules may link only other pure modules, util and libm (checked by tests/layout/check).
function(md_module lib folder)
  cmake_parse_arguments(M "PURE" "" "SOURCES;LIBS" ${ARGN})
  set(srcs "")
  foreach(s IN LISTS M_SOURCES)
    list(APPEND srcs ${CMAKE_SOURCE_DIR}/node/${folder}/${s})
  endforeach()
  add_library(${lib} STATIC ${srcs})
  target_include_directories(${lib} PUBLIC ${CMAKE_SOURCE_DIR}/node)
  target_link_libraries(${lib} PUBLIC ${M_LIBS})
endfunction()
