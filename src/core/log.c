#include "core/common.h"
#include "core/log.h"

#include <pthread.h>
#include <time.h>

static idp_log_level log_level = IDP_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void idp_log_set_level(idp_log_level level) { log_level = level; }
idp_log_level idp_log_get_level(void) { return log_level; }

int idp_log_parse_level(const char *s) {
  for (size_t i = 0; i < IDP_ARRAY_LEN(level_names); i++)
    if (!strcmp(s, level_names[i])) return (int)i;
  return -1;
}

void idp_log(idp_log_level level, const char *msg, ...) {
  if (level < log_level || level >= IDP_LOG_OFF) return;
  json_t *o = json_object();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[64];
  snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
  json_object_set_new(o, "ts", json_string(when));
  json_object_set_new(o, "level", json_string(level_names[level]));
  json_object_set_new(o, "msg", json_string(msg));
  va_list ap;
  va_start(ap, msg);
  const char *k;
  while ((k = va_arg(ap, const char *)) != NULL) {
    const char *v = va_arg(ap, const char *);
    json_object_set_new(o, k, v ? json_string(v) : json_null());
  }
  va_end(ap);
  char *line = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  if (!line) return;
  pthread_mutex_lock(&log_lock);
  fputs(line, stderr);
  fputc('\n', stderr);
  fflush(stderr);
  pthread_mutex_unlock(&log_lock);
  free(line);
}
