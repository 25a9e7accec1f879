/* log.h: structured logging as JSON lines on stderr.
 *
 * One global level, set once by main() from --log-level.  Each line is a
 * JSON object {"ts","level","msg", ...fields}.  Fields come as key/value
 * string pairs ended by NULL.  Never pass secret values: log names and
 * references only. */
#ifndef IDP_LOG_H
#define IDP_LOG_H

typedef enum idp_log_level {
  IDP_LOG_DEBUG = 0,
  IDP_LOG_INFO,
  IDP_LOG_WARN,
  IDP_LOG_ERROR,
  IDP_LOG_OFF
} idp_log_level;

void idp_log_set_level(idp_log_level level);
idp_log_level idp_log_get_level(void);
/* "debug", "info", "warn", "error", "off"; returns -1 for anything else. */
int idp_log_parse_level(const char *s);

/* idp_log(IDP_LOG_INFO, "store opened", "path", path, NULL); */
void idp_log(idp_log_level level, const char *msg, ...)
    __attribute__((sentinel));

#endif
