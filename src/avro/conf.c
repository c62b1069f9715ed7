/* The "avro.*" configuration table and the options it fills. */
#include "avro/internal.h"

#include <string.h>

static const rv_conf_def_t defs[] = {
    {"avro.framing", RV_CONF_ENUM, "raw", 0, -1, "raw|confluent",
     "Wire framing: raw Avro binary, or Confluent's magic byte and 4-byte schema id"},
    {"avro.schema.id", RV_CONF_INT, "0", 0, 2147483647.0, NULL,
     "Confluent framing: the schema id written by the encoder and read as the reader's own"},
    {"avro.max.depth", RV_CONF_INT, "64", 1, 1024, NULL,
     "Deepest nesting of records, arrays and maps a decoder accepts"},
    {"avro.on.error", RV_CONF_ENUM, "fail", 0, -1, "fail|skip|dead-letter",
     "What a deserializer does with undecodable input: fail the stream, drop it (never acked), "
     "or emit it on the reject port"},
};

const rv_conf_table_t rv_avro_conf_table = {
    .component = "avro",
    .title = "Avro codecs and stages",
    .passthrough = NULL,
    .passthrough_doc = NULL,
    .defs = defs,
    .ndefs = RV_CONF_NDEFS(defs),
};

const rv_conf_table_t *rv_avro_conf(void)
{
    return &rv_avro_conf_table;
}

void rv_avro_opts_from_conf(const rv_conf_t *conf, rv_avro_opts_t *opts)
{
    const rv_conf_table_t *t = &rv_avro_conf_table;
    memset(opts, 0, sizeof(*opts));
    const char *fr = rv_conf_str(conf, t, "avro.framing");
    opts->framing =
        fr && strcmp(fr, "confluent") == 0 ? RV_AVRO_FRAMING_CONFLUENT : RV_AVRO_FRAMING_RAW;
    opts->schema_id = (int32_t)rv_conf_int(conf, t, "avro.schema.id");
    opts->max_depth = (int)rv_conf_int(conf, t, "avro.max.depth");
}

void rv__avro_opts_norm(rv_avro_opts_t *dst, const rv_avro_opts_t *src)
{
    if (src)
        *dst = *src;
    else
        memset(dst, 0, sizeof(*dst));
    if (dst->max_depth <= 0) dst->max_depth = RV__AVRO_DEFAULT_DEPTH;
    if (dst->max_depth > RV__AVRO_MAX_DEPTH) dst->max_depth = RV__AVRO_MAX_DEPTH;
}

void rv_avro_deser_opts_from_conf(const rv_conf_t *conf, rv_avro_deser_opts_t *opts)
{
    const char *on = rv_conf_str(conf, &rv_avro_conf_table, "avro.on.error");
    memset(opts, 0, sizeof(*opts));
    opts->dead_letter = on && strcmp(on, "dead-letter") == 0;
    opts->skip_bad = on && strcmp(on, "skip") == 0;
}
