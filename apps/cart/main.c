/* rivulet-cart: the shopping-cart service on rivulet.
 *
 *   rivulet-cart demo                  the whole story on the embedded default
 *   rivulet-cart run                   the command side (Kafka -> service + event log)
 *   rivulet-cart publish [--file F]    JSON lines -> Avro commands on Kafka, keyed by cart id
 *   rivulet-cart query cart ID | events ID [--since T] | duplicates [ID]
 *   rivulet-cart compensate [ID]       restore carts whose commands ran more than once
 *   rivulet-cart rebuild [ID]          fold the event log and compare with the cart table
 *
 * Options shared by every subcommand set configuration keys (CONFIGURATION.md):
 *   -c FILE       a configuration file (key = value lines)
 *   -o KEY=VALUE  one key (repeatable; later ones win)
 * and shortcuts for the common ones. */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "rivulet/avro.h"
#include "rivulet/cql.h"

typedef struct shortcut {
    const char *flag, *key, *what;
} shortcut_t;

static const shortcut_t shortcuts[] = {
    {"--bootstrap", "kafka.bootstrap.servers",
     "Kafka brokers (empty or \"mock\": the embedded mock)"},
    {"--group", "kafka.group.id", "consumer group"},
    {"--topic", "cart.topic", "command topic"},
    {"--topology", "cart.topology", "parallel | serial | atomic"},
    {"--mode", "cart.mode", "duplicates | idempotent"},
    {"--event-id", "cart.event.id", "offset | key | header"},
    {"--store", "cart.store", "sqlite | cassandra"},
    {"--sqlite", "cart.sqlite.path", "SQLite file"},
    {"--cassandra", "cql.contact.points", "Cassandra contact points"},
    {"--keyspace", "cql.keyspace", "Cassandra keyspace"},
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: rivulet-cart COMMAND [options] [args]\n\n"
        "commands:\n"
        "  demo                     publish sample commands to the embedded Kafka, run the "
        "pipeline\n"
        "                           with a crash and a restart, find duplicates, compensate, "
        "verify\n"
        "  run                      the command side: Kafka -> Avro -> service + event log\n"
        "                           (--idle-exit MS: stop after MS without new records)\n"
        "  publish                  read JSON lines (stdin or --file F) and publish them as Avro\n"
        "  query cart ID            a cart's state\n"
        "  query events ID          a cart's events (--since UNIX_MS or YYYY-MM-DDTHH:MM:SSZ)\n"
        "  query duplicates [ID]    events logged more than once\n"
        "  compensate [ID]          restore the state the commands give applied exactly once\n"
        "  rebuild [ID]             fold each cart's event log and compare with the cart table\n"
        "  help [COMMAND]           this text, or every configuration key\n\n"
        "options:\n"
        "  -c FILE                  configuration file (key = value lines)\n"
        "  -o KEY=VALUE             one configuration key (see `rivulet-cart help config`)\n");
    for (size_t i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s VALUE", shortcuts[i].flag);
        fprintf(out, "  %-24s %s (-o %s=...)\n", left, shortcuts[i].what, shortcuts[i].key);
    }
    fprintf(out, "  -q                       quieter output\n\n"
                 "exit codes: 0 ok, 1 the work failed, 2 bad arguments or configuration,\n"
                 "            3 a check found a difference (rebuild, demo verdict)\n");
}

/* What each subcommand does and which configuration tables it reads: its
 * --help prints this and those tables' keys (from the same tables that check
 * the configuration and make CONFIGURATION.md). */
typedef struct subcommand {
    const char *name, *synopsis, *what;
    bool kafka, cql, avro, graph;
} subcommand_t;

static const subcommand_t subcommands[] = {
    {"demo", "rivulet-cart demo [--carts N] [--commands N]",
     "The whole story on the embedded default (mock Kafka + SQLite): publish sample commands and\n"
     "poison records, run the pipeline with a SIGKILL and a restart, find the duplicates,\n"
     "compensate, rebuild every cart from its log, compare with an exactly-once reference model.\n"
     "Exit 0 when the verdict is OK, 3 when not.",
     false, false, false, false},
    {"run", "rivulet-cart run [-c FILE] [-o KEY=VALUE]... [--idle-exit MS] [--crash-after N]",
     "The command side: Kafka -> Avro -> validate -> service + event log, per cart.topology and\n"
     "cart.mode. Prints a progress line (in place on a terminal). SIGINT/SIGTERM drain, commit "
     "and\n"
     "exit 0; a second signal aborts. --idle-exit stops after MS without new records;\n"
     "--crash-after kills the process with SIGKILL after N commands (tests).",
     true, true, true, true},
    {"publish", "rivulet-cart publish [--file F] [-o KEY=VALUE]...",
     "Reads JSON lines ({\"action\":..,\"cartId\":..,\"ownerOrItem\":..,\"count\":..}) from F or "
     "stdin\n"
     "and publishes each as an Avro ShoppingCartCmd to cart.topic, keyed by cart id. A bad line "
     "is\n"
     "reported with its number and skipped; the exit code is then 2.",
     true, false, true, true},
    {"query", "rivulet-cart query cart ID | events ID [--since T] | duplicates [ID]",
     "The query side: a cart's state (exit 3 when it does not exist), its events since T (Unix ms "
     "or\n"
     "YYYY-MM-DDTHH:MM:SSZ, by command time), or the events logged more than once.",
     false, true, false, false},
    {"compensate", "rivulet-cart compensate [ID]",
     "Restores every cart (or one) to the state its commands give applied exactly once, and logs "
     "a\n"
     "CartCorrected row; running it again changes nothing.",
     false, true, false, false},
    {"rebuild", "rivulet-cart rebuild [ID]",
     "Folds each cart's event log and compares it with the cart table and with the commands\n"
     "applied exactly once; exit 3 on any difference.",
     false, true, false, false},
};

static const subcommand_t *find_subcommand(const char *name)
{
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (strcmp(subcommands[i].name, name) == 0) return &subcommands[i];
    return NULL;
}

static void help_subcommand(FILE *out, const subcommand_t *c)
{
    fprintf(out,
            "usage: %s\n\n%s\n\nconfiguration keys (-o KEY=VALUE, or KEY = VALUE lines in -c "
            "FILE):\n\n",
            c->synopsis, c->what);
    rv_conf_print_help(out, &cart_conf_table);
    fprintf(out, "\n");
    if (c->kafka) {
        rv_conf_print_help(out, rv_kafka_conf());
        fprintf(out, "\n");
    }
    if (c->cql) {
        rv_conf_print_help(out, &rv_cql_conf_table);
        fprintf(out, "\n");
    }
    if (c->avro) {
        rv_conf_print_help(out, rv_avro_conf());
        fprintf(out, "\n");
    }
    if (c->graph) rv_conf_print_help(out, rv_graph_conf());
}

static void help_config(FILE *out)
{
    const rv_conf_table_t *tables[] = {&cart_conf_table, rv_kafka_conf(), &rv_cql_conf_table,
                                       rv_avro_conf(), rv_graph_conf()};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        rv_conf_print_help(out, tables[i]);
        fprintf(out, "\n");
    }
}

/* The options that take a value. */
static bool known_flag(const char *arg)
{
    static const char *const flags[] = {"-c",      "-o",         "--idle-exit", "--crash-after",
                                        "--carts", "--commands", "--since",     "--file"};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
        if (strcmp(arg, flags[i]) == 0) return true;
    for (size_t i = 0; i < sizeof(shortcuts) / sizeof(shortcuts[0]); i++)
        if (strcmp(arg, shortcuts[i].flag) == 0) return true;
    return false;
}

int app_fail(int code, const char *what, rv_error_t *err)
{
    fprintf(stderr, "rivulet-cart: %s%s%s\n", what ? what : "", what && err ? ": " : "",
            err ? rv_error_msg(err) : "");
    rv_error_destroy(err);
    return code;
}

void app_wait(uv_loop_t *loop, const bool *flag)
{
    while (!*flag && uv_run(loop, UV_RUN_ONCE))
        ;
}

/* Parses --since: Unix milliseconds or an ISO-8601 UTC time. */
static bool parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && end != s && *end == '\0') {
        *out = v;
        return true;
    }
    struct tm tm = {0};
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || (*end && strcmp(end, "Z") != 0)) return false;
    *out = (int64_t)timegm(&tm) * 1000;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return APP_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        const subcommand_t *sc = argc > 2 ? find_subcommand(argv[2]) : NULL;
        if (argc > 2 && strcmp(argv[2], "config") == 0)
            help_config(stdout);
        else if (sc)
            help_subcommand(stdout, sc);
        else
            usage(stdout);
        return APP_OK;
    }
    app_t a = {.conf = rv_conf_new(), .argv0 = argv[0], .carts = 12, .commands = 360};
    char **pos = calloc((size_t)argc, sizeof(char *));
    rv_error_t *err = NULL;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            const subcommand_t *sc = find_subcommand(cmd);
            if (sc) {
                help_subcommand(stdout, sc);
            } else {
                usage(stdout);
                printf("\nconfiguration keys:\n\n");
                help_config(stdout);
            }
            rv_conf_destroy(a.conf);
            free(pos);
            return APP_OK;
        } else if (strcmp(arg, "-q") == 0) {
            a.quiet = true;
            takes = false;
        } else if (arg[0] != '-') {
            pos[a.nargs++] = (char *)arg;
            takes = false;
        } else if (!known_flag(arg)) {
            fprintf(stderr, "rivulet-cart: unknown option %s (see rivulet-cart --help)\n", arg);
            goto usage_err;
        } else if (!val) {
            fprintf(stderr, "rivulet-cart: %s needs a value (see rivulet-cart --help)\n", arg);
            rv_conf_destroy(a.conf);
            free(pos);
            return APP_USAGE;
        } else if (strcmp(arg, "-c") == 0) {
            if (rv_conf_load_file(a.conf, val, &err) != RV_OK) goto bad;
        } else if (strcmp(arg, "-o") == 0) {
            if (rv_conf_set_pair(a.conf, val, &err) != RV_OK) goto bad;
        } else if (strcmp(arg, "--idle-exit") == 0 || strcmp(arg, "--crash-after") == 0 ||
                   strcmp(arg, "--carts") == 0 || strcmp(arg, "--commands") == 0) {
            char *end;
            long long v = strtoll(val, &end, 10);
            if (*end || v < 0) {
                fprintf(stderr, "rivulet-cart: %s: \"%s\" is not a non-negative integer\n", arg,
                        val);
                goto usage_err;
            }
            if (arg[2] == 'i')
                a.idle_exit_ms = v;
            else if (arg[3] == 'r')
                a.crash_after = v;
            else if (arg[3] == 'a')
                a.carts = (int)v;
            else
                a.commands = (int)v;
        } else if (strcmp(arg, "--since") == 0) {
            if (!parse_time(val, &a.since_ms)) {
                fprintf(stderr,
                        "rivulet-cart: --since: \"%s\" is neither Unix milliseconds nor "
                        "YYYY-MM-DDTHH:MM:SSZ\n",
                        val);
                goto usage_err;
            }
        } else if (strcmp(arg, "--file") == 0) {
            a.file = val;
        } else {
            size_t k;
            for (k = 0; k < sizeof(shortcuts) / sizeof(shortcuts[0]); k++)
                if (strcmp(arg, shortcuts[k].flag) == 0) break;
            if (k == sizeof(shortcuts) / sizeof(shortcuts[0])) {
                fprintf(stderr, "rivulet-cart: unknown option %s (see rivulet-cart --help)\n", arg);
                goto usage_err;
            }
            rv_conf_set(a.conf, shortcuts[k].key, val, NULL);
        }
        if (takes) i++;
    }
    a.args = pos;
    /* Every key must belong to a component this program knows. */
    const rv_conf_table_t *tables[] = {&cart_conf_table, rv_kafka_conf(), &rv_cql_conf_table,
                                       rv_avro_conf(), rv_graph_conf()};
    if (rv_conf_check(a.conf, tables, sizeof(tables) / sizeof(tables[0]), false, &err) != RV_OK)
        goto bad;
    if (!rv_conf_get(a.conf, "kafka.group.id"))
        rv_conf_set(a.conf, "kafka.group.id", "rivulet-cart", NULL);

    int rc;
    if (strcmp(cmd, "run") == 0)
        rc = app_run(&a);
    else if (strcmp(cmd, "publish") == 0)
        rc = app_publish(&a);
    else if (strcmp(cmd, "query") == 0)
        rc = app_query(&a);
    else if (strcmp(cmd, "compensate") == 0)
        rc = app_compensate(&a);
    else if (strcmp(cmd, "rebuild") == 0)
        rc = app_rebuild(&a);
    else if (strcmp(cmd, "demo") == 0)
        rc = app_demo(&a);
    else {
        fprintf(stderr, "rivulet-cart: unknown command \"%s\" (see rivulet-cart --help)\n", cmd);
        rc = APP_USAGE;
    }
    rv_conf_destroy(a.conf);
    free(pos);
    return rc;
bad:
    rv_conf_destroy(a.conf);
    free(pos);
    return app_fail(APP_USAGE, NULL, err);
usage_err:
    rv_conf_destroy(a.conf);
    free(pos);
    return APP_USAGE;
}
