/* The list of every configuration table in the library, for the documentation
 * generator and for programs that check one file against all components.
 * A component that adds a table declares it in src/core/conf_tables.h and adds
 * it here. */
#include "core/conf_tables.h"

static const rv_conf_table_t *const all_tables[] = {
    &rv_graph_conf_table,
    &rv_kafka_conf_table,
    &rv_avro_conf_table,
    &rv_cql_conf_table,
};

const rv_conf_table_t *const *rv_conf_tables(size_t *n)
{
    *n = sizeof(all_tables) / sizeof(all_tables[0]);
    return all_tables;
}
