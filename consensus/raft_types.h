/* raft_types.h: the values shared by the Raft core and its storage: log entries and hard state. */
#ifndef RAFT_TYPES_H
#define RAFT_TYPES_H

#include <stdint.h>

/* Nodes are numbered 1..n in config order; 0 means "none". */
typedef uint32_t raft_id;

typedef enum {
    RAFT_ENTRY_NOOP = 0,  /* appended by a new leader at the start of its term */
    RAFT_ENTRY_NORMAL = 1 /* an application command */
} raft_entry_type;

/* One log entry. Who owns data is said where an entry crosses an API. */
typedef struct {
    uint64_t term;
    uint64_t index;
    uint8_t type;   /* raft_entry_type */
    uint32_t len;
    uint8_t *data;  /* len bytes, NULL when len is 0 */
} raft_entry;

/* What must be on disk before a message that depends on it is sent. */
typedef struct {
    uint64_t term;
    raft_id vote;   /* 0: voted for nobody in term */
    uint64_t commit;
} raft_hard_state;

#endif
