# remedy_core.cmake: the pure remediation cores: the ledger (the state machine applied from the
# Raft log, with its entry and snapshot codecs) and the escalation ladder. They link md_pure only
# (no libuv, curl or nng), so the simulator can drive them deterministically. Included from the
# top-level CMakeLists.txt.

add_library(md_remedy_core STATIC
  node/ledger.c
  node/ledger_apply.c
  node/ledger_codec.c
  node/ledger_snap.c
  node/escalation.c
)
target_include_directories(md_remedy_core PUBLIC node)
target_link_libraries(md_remedy_core PUBLIC md_pure md_util)
# The escalation and ledger invariants are asserted in every build (style: kept on in release).
target_compile_options(md_remedy_core PRIVATE -UNDEBUG)

function(md_remedy_test name)
  add_executable(${name} tests/unit/${name}.c)
  target_link_libraries(${name} PRIVATE md_remedy_core PkgConfig::CMOCKA)
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)
endfunction()

md_remedy_test(test_ledger)
md_remedy_test(test_escalation)
