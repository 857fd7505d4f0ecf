# health.cmake: md_health, pure: results, history, trend, health states, observations, verdicts.
md_module(md_health health PURE
  SOURCES types.c history.c trend.c health.c verdict.c obs_codec.c cadence.c counts.c
  LIBS md_util m)

foreach(t IN ITEMS test_health test_trend test_history test_verdict test_obs_codec test_cadence test_counts)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_health)
endforeach()
