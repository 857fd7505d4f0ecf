# remedy.cmake: md_remedy, pure: the remediation ledger, the escalation ladder and the driver. It
# links no libuv, curl or nng, so the simulator (tests/sim) drives it deterministically; the
# simulator compiles MD_REMEDY_SOURCES itself, so that -DREMEDY_BUG_* (planted bugs in driver.c)
# reaches them in its sim_buggy_remedy_* programs.
set(MD_REMEDY_SOURCES ledger.c ledger_apply.c ledger_codec.c ledger_snap.c escalation.c driver.c)
md_module(md_remedy remedy PURE
  SOURCES ${MD_REMEDY_SOURCES}
  LIBS md_health md_util)
list(TRANSFORM MD_REMEDY_SOURCES PREPEND ${CMAKE_SOURCE_DIR}/node/remedy/)
# The escalation, ledger and driver invariants are asserted in every build (kept on in release).
target_compile_options(md_remedy PRIVATE -UNDEBUG)

foreach(t IN ITEMS test_ledger test_escalation test_remedy_driver)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_remedy)
endforeach()
