# cluster.cmake: md_cluster, the Raft driver and the cluster view (transport and consensus around
# the node's observations).
md_module(md_cluster cluster
  SOURCES cluster.c raft_driver.c commit_lat.c
  LIBS md_base md_config md_health md_view md_transport md_raft md_raft_storage)

md_test(unit.test_commit_lat SOURCES tests/unit/test_commit_lat.c LIBS md_cluster)
md_test(unit.test_raft_driver SOURCES tests/unit/test_raft_driver.c LIBS md_cluster)
# Includes the transport's private tp_int.h to seal frames as a peer (or a forger) would.
md_test(unit.test_cluster_drops SOURCES tests/unit/test_cluster_drops.c LIBS md_cluster)
md_test(unit.test_cluster_own SOURCES tests/unit/test_cluster_own.c LIBS md_cluster)
md_test(unit.test_raft_driver_msgs SOURCES tests/unit/test_raft_driver_msgs.c LIBS md_cluster)
# Issue 11: a missing or damaged hard state starts the node as one that lost its disk.
md_test(unit.test_raft_driver_disk SOURCES tests/unit/test_raft_driver_disk.c LIBS md_cluster)
