/* Declarations of every component's configuration table (see conf_tables.c). */
#ifndef RV_CORE_CONF_TABLES_H
#define RV_CORE_CONF_TABLES_H

#include "rivulet/conf.h"

extern const rv_conf_table_t rv_graph_conf_table;
extern const rv_conf_table_t rv_kafka_conf_table;
extern const rv_conf_table_t rv_avro_conf_table;
extern const rv_conf_table_t rv_cql_conf_table;

#endif
