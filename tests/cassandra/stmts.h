/* The statements the fake server of the unit tests can prepare. */
#ifndef RV_CASS_TEST_STMTS_H
#define RV_CASS_TEST_STMTS_H

#include "fake_cql.h"

enum {
    ST_INSERT = 0,   /* k int, v int */
    ST_SELECT_ALL,   /* -> v int */
    ST_READ_VERSION, /* k -> version */
    ST_UPDATE_IF,    /* v, version, k, expected version -> LWT */
    ST_INSERT_IF,    /* k, v -> LWT */
    ST_COUNT
};

static const fake_stmt_t test_stmts[ST_COUNT] = {
    {"INSERT INTO t (k, v) VALUES (?, ?)", 2, {0x0009, 0x0009}, 0, {NULL}, {0}},
    {"SELECT v FROM t", 0, {0}, 1, {"v"}, {0x0009}},
    {"SELECT version FROM t WHERE k = ?", 1, {0x0009}, 1, {"version"}, {0x0009}},
    {"UPDATE t SET v = ?, version = ? WHERE k = ? IF version = ?",
     4,
     {0x0009, 0x0009, 0x0009, 0x0009},
     0,
     {NULL},
     {0}},
    {"INSERT INTO t (k, v) VALUES (?, ?) IF NOT EXISTS", 2, {0x0009, 0x0009}, 0, {NULL}, {0}},
};

#endif
