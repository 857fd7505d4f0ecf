# remedy.cmake: md_remedy, pure: the remediation ledger and the escalation ladder. It links no
# libuv, curl or nng, so the simulator (tests/sim) drives it deterministically.
md_module(md_remedy remedy PURE
  SOURCES ledger.c ledger_apply.c ledger_codec.c ledger_snap.c escalation.c
  LIBS md_health)
# The escalation and ledger invariants are asserted in every build (style: kept on in release).
target_compile_options(md_remedy PRIVATE -UNDEBUG)

foreach(t IN ITEMS test_ledger test_escalation)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_remedy)
endforeach()
