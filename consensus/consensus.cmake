# consensus.cmake: the pure Raft core (library md_raft: no libuv, curl or nng, no clock, no
# I/O) and its cmocka unit tests (label "unit"). Included by the top-level CMakeLists.txt.
# The durable storage lives in consensus/storage.cmake (its own library and tests), which the
# top-level file includes.

set(MD_RAFT_SOURCES
  ${CMAKE_SOURCE_DIR}/consensus/raft.c
  ${CMAKE_SOURCE_DIR}/consensus/raft_log.c
  ${CMAKE_SOURCE_DIR}/consensus/election.c
  ${CMAKE_SOURCE_DIR}/consensus/replication.c
  ${CMAKE_SOURCE_DIR}/consensus/progress.c
  ${CMAKE_SOURCE_DIR}/consensus/lease.c
  ${CMAKE_SOURCE_DIR}/consensus/transfer.c
  ${CMAKE_SOURCE_DIR}/consensus/snapshot.c
  ${CMAKE_SOURCE_DIR}/consensus/ready.c
  ${CMAKE_SOURCE_DIR}/consensus/codec.c)

# Asserts are the core's invariants and stay on in every build type (raft_int.h also
# undefines NDEBUG, for builds that bypass CMake).
add_library(md_raft STATIC ${MD_RAFT_SOURCES})
target_include_directories(md_raft PUBLIC ${CMAKE_SOURCE_DIR}/consensus)
target_link_libraries(md_raft PUBLIC md_util)
target_compile_options(md_raft PRIVATE -UNDEBUG)

# One cmocka program per concern of the core; each links the shared two-node-or-more fixture.
foreach(t IN ITEMS
    test_raft_election
    test_raft_prevote
    test_raft_hint
    test_raft_sticky
    test_raft_checkquorum
    test_raft_replication
    test_raft_commit
    test_raft_transfer
    test_raft_lease
    test_raft_snapshot
    test_raft_snapshot_chunks
    test_raft_disk_loss
    test_raft_ready)
  md_test(unit.${t} SOURCES tests/unit/${t}.c tests/unit/test_raft_fixture.c LIBS md_raft)
endforeach()
md_test(unit.test_raft_codec SOURCES tests/unit/test_raft_codec.c LIBS md_raft)
