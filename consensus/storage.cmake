# storage.cmake: durable Raft storage (consensus/storage.h): the md_raft_storage library (libc and
# POSIX only) and its unit tests. Included from the top-level CMakeLists.txt.

add_library(md_raft_storage STATIC
  consensus/crc32c.c
  consensus/record.c
  consensus/io.c
  consensus/files.c
  consensus/segment.c
  consensus/recover.c
  consensus/storage.c
)
target_include_directories(md_raft_storage PUBLIC consensus)
target_link_libraries(md_raft_storage PUBLIC md_util)

function(md_storage_test name)
  add_executable(${name} tests/unit/${name}.c)
  target_link_libraries(${name} PRIVATE md_raft_storage PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
endfunction()

md_storage_test(test_storage_basic)
md_storage_test(test_storage_recovery)
md_storage_test(test_storage_faults)
