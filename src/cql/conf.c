/* The CQL client's configuration table ("cql.*" keys). */
#include "rivulet/cql.h"

static const rv_conf_def_t defs[] = {
    {"cql.contact.points", RV_CONF_STRING, "127.0.0.1", 0, -1, NULL,
     "Comma-separated hosts (name or address, optionally host:port) to connect to first"},
    {"cql.port", RV_CONF_INT, "9042", 1, 65535, NULL,
     "CQL native port for contact points without a port and for discovered peers"},
    {"cql.username", RV_CONF_STRING, NULL, 0, -1, NULL,
     "User name for PasswordAuthenticator (SASL PLAIN); unset: no authentication"},
    {"cql.password", RV_CONF_STRING, NULL, 0, -1, NULL, "Password for cql.username"},
    {"cql.keyspace", RV_CONF_STRING, NULL, 0, -1, NULL,
     "Keyspace every connection USEs once connected (unset: qualify table names)"},
    {"cql.protocol.version", RV_CONF_INT, "4", 4, 4, NULL,
     "Native protocol version (only v4 is implemented)"},
    {"cql.connections.per.host", RV_CONF_INT, "1", 1, 64, NULL,
     "Connections kept open to each host"},
    {"cql.max.requests.per.connection", RV_CONF_INT, "2048", 1, 32768, NULL,
     "Requests in flight on one connection (stream ids); more wait in the queue"},
    {"cql.queue.max", RV_CONF_INT, "100000", 1, 100000000, NULL,
     "Requests waiting for a connection before rv_cql_execute refuses more (RV_ERR_OVERFLOW)"},
    {"cql.request.timeout", RV_CONF_MS, "12s", 1, 86400000, NULL,
     "Deadline of a request, covering queueing, retries and re-preparation"},
    {"cql.connect.timeout", RV_CONF_MS, "5s", 1, 600000, NULL,
     "Deadline to open a connection, including STARTUP and authentication"},
    {"cql.heartbeat.interval", RV_CONF_MS, "30s", 0, 3600000, NULL,
     "Idle time after which a connection is probed with OPTIONS; 0 disables"},
    {"cql.reconnect.min", RV_CONF_MS, "100ms", 1, 3600000, NULL,
     "First delay before reconnecting to a lost host (doubles each attempt)"},
    {"cql.reconnect.max", RV_CONF_MS, "10s", 1, 3600000, NULL,
     "Longest delay between reconnection attempts"},
    {"cql.max.frame.size", RV_CONF_INT, "268435456", 1024, 268435456, NULL,
     "Largest frame body accepted or sent, in bytes; a larger response closes the connection"},
    {"cql.consistency", RV_CONF_ENUM, "local_one", 0, -1,
     "any|one|two|three|quorum|all|local_quorum|each_quorum|local_one",
     "Default consistency level of statements and batches"},
    {"cql.serial.consistency", RV_CONF_ENUM, "serial", 0, -1, "serial|local_serial",
     "Default serial consistency of conditional (LWT) statements"},
    {"cql.page.size", RV_CONF_INT, "5000", 0, 2147483647, NULL,
     "Default rows per page of SELECT results; 0 disables paging"},
    {"cql.retry.max", RV_CONF_INT, "3", 0, 100, NULL,
     "Re-sends of an idempotent statement after Unavailable, Overloaded, read/write "
     "timeouts or a lost connection"},
    {"cql.timestamps", RV_CONF_ENUM, "client", 0, -1, "client|server",
     "Who assigns write timestamps: client (monotonic microseconds, kept across retries) "
     "or server"},
    {"cql.schema.agreement.timeout", RV_CONF_MS, "10s", 0, 600000, NULL,
     "After DDL, how long to wait for every host to report the same schema version; 0: "
     "do not wait"},
    {"cql.token.aware", RV_CONF_BOOL, "true", 0, -1, NULL,
     "Send prepared statements that bind the whole partition key to the key's owner"},
    {"cql.peers.discovery", RV_CONF_BOOL, "true", 0, -1, NULL,
     "Connect to the hosts listed in system.peers besides the contact points"},
};

const rv_conf_table_t rv_cql_conf_table = {
    "cql", "CQL client (Cassandra native protocol)", NULL, NULL, defs, RV_CONF_NDEFS(defs),
};
