# failover.cmake: md_failover, the shell of failover: endpoint probes, breakers on the loop, the
# active endpoint and the TCP proxy (the pure breaker and rule are md_breaker).
md_module(md_failover failover
  SOURCES failover.c proxy.c resolve.c
  LIBS md_breaker md_probe md_base md_config md_health md_view md_util)
