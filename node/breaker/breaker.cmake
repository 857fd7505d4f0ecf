# breaker.cmake: md_breaker, pure: circuit breakers and the active-endpoint rule.
md_module(md_breaker breaker PURE
  SOURCES breaker.c active.c)

md_test(unit.test_breaker SOURCES tests/unit/test_breaker.c LIBS md_breaker)
