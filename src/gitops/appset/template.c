/* template.c: rendering ApplicationSet templates (fasttemplate and Go
 * templates) over JSON values, as Argo CD's Render.Replace and
 * deeplyReplace do: every string, and every object key, on its own. */
#include "core/common.h"

#include "gitops/appset/appset.h"
#include "gitops/appset/gotmpl.h"

/* Argo CD only runs fasttemplate on strings matching ".*{{.*}}.*" (the dot
 * does not match a newline). */
static bool fast_templated(const char *s) {
  for (const char *p = s; (p = strstr(p, "{{")); p += 2) {
    const char *close = strstr(p + 2, "}}");
    if (!close) return false;
    if (!memchr(p, '\n', (size_t)(close - p))) return true;
  }
  return false;
}

static idp_code fast_replace(const char *t, const json_t *params, char **out, idp_err *e) {
  if (!fast_templated(t)) {
    *out = strdup(t);
    return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  const char *p = t;
  for (;;) {
    const char *open = strstr(p, "{{");
    if (!open) {
      idp_buf_adds(&b, p);
      break;
    }
    idp_buf_add(&b, p, (size_t)(open - p));
    const char *close = strstr(open + 2, "}}");
    if (!close) {
      idp_buf_free(&b);
      return idp_err_set(e, IDP_EINVAL,
                         "invalid template: cannot find end tag=\"}}\" in the template=\"%s\" starting from \"%s\"",
                         t, open + 2);
    }
    const char *ts = open + 2, *te = close;
    const char *as = ts, *ae = te;
    while (as < ae && (*as == ' ' || *as == '\t' || *as == '\n' || *as == '\r')) as++;
    while (ae > as && (ae[-1] == ' ' || ae[-1] == '\t' || ae[-1] == '\n' || ae[-1] == '\r')) ae--;
    char key[1024];
    json_t *v = NULL;
    if (ae > as && (size_t)(ae - as) < sizeof key) {
      memcpy(key, as, (size_t)(ae - as));
      key[ae - as] = 0;
      v = json_object_get(params, key);
    }
    if (v && json_is_string(v)) {
      idp_buf_add(&b, json_string_value(v), json_string_length(v));
    } else { /* unknown or non-string parameter: kept as written */
      idp_buf_add(&b, open, (size_t)(close + 2 - open));
    }
    p = close + 2;
  }
  if (!b.data) idp_buf_adds(&b, "");
  *out = idp_buf_detach(&b, NULL);
  return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "out of memory");
}

typedef struct render_ctx {
  const json_t *params;
  bool go;
  idp_gotmpl_opts gopts;
} render_ctx;

static idp_code replace_ctx(const render_ctx *c, const char *t, char **out, idp_err *e) {
  if (!c->go) return fast_replace(t, c->params, out, e);
  if (!strstr(t, "{{")) { /* no action: Go renders the text unchanged */
    *out = strdup(t);
    return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "out of memory");
  }
  idp_gotmpl *tp;
  idp_err ge = IDP_ERR_INIT;
  if (idp_gotmpl_parse(t, strlen(t), "", &tp, &ge))
    return idp_err_set(e, IDP_EINVALID, "failed to parse template %s: %s", t, ge.msg);
  idp_buf b;
  idp_buf_init(&b, IDP_BUF_DEFAULT_MAX);
  idp_code rc = idp_gotmpl_exec(tp, c->params, &c->gopts, &b, &ge);
  idp_gotmpl_free(tp);
  if (rc) {
    idp_buf_free(&b);
    return idp_err_set(e, IDP_EINVALID, "failed to execute go template %s: %s", t, ge.msg);
  }
  if (!b.data) idp_buf_adds(&b, "");
  *out = idp_buf_detach(&b, NULL);
  return *out ? IDP_OK : idp_err_set(e, IDP_ENOMEM, "out of memory");
}

idp_code idp_appset_replace(const char *tmpl, const json_t *params, bool go_template,
                            const json_t *go_template_options, char **out, idp_err *e) {
  render_ctx c = {.params = params, .go = go_template};
  if (go_template) {
    idp_code rc = idp_gotmpl_opts_from_json(go_template_options, &c.gopts, e);
    if (rc) return rc;
  }
  return replace_ctx(&c, tmpl, out, e);
}

static idp_code render_rec(const render_ctx *c, const json_t *v, json_t **out, int depth,
                           idp_err *e) {
  if (depth > 100) return idp_err_set(e, IDP_EINVAL, "template nested too deeply");
  if (json_is_string(v)) {
    char *s;
    idp_code rc = replace_ctx(c, json_string_value(v), &s, e);
    if (rc) return rc;
    *out = json_string(s);
    free(s);
    return *out ? IDP_OK : idp_err_set(e, IDP_EINVAL, "template output is not valid UTF-8");
  }
  if (json_is_array(v)) {
    json_t *r = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
      json_t *y;
      idp_code rc = render_rec(c, x, &y, depth + 1, e);
      if (rc) {
        json_decref(r);
        return rc;
      }
      json_array_append_new(r, y);
    }
    *out = r;
    return IDP_OK;
  }
  if (json_is_object(v)) {
    json_t *r = json_object();
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
      json_t *y;
      char *nk;
      idp_code rc = render_rec(c, x, &y, depth + 1, e);
      if (!rc && (rc = replace_ctx(c, k, &nk, e))) json_decref(y);
      if (rc) {
        json_decref(r);
        return rc;
      }
      json_object_set_new(r, nk, y);
      free(nk);
    }
    *out = r;
    return IDP_OK;
  }
  *out = json_incref((json_t *)v);
  return IDP_OK;
}

idp_code idp_appset_render_value(const json_t *tmpl, const json_t *params, bool go_template,
                                 const json_t *go_template_options, json_t **out, idp_err *e) {
  *out = NULL;
  render_ctx c = {.params = params, .go = go_template};
  if (go_template) {
    idp_code rc = idp_gotmpl_opts_from_json(go_template_options, &c.gopts, e);
    if (rc) return rc;
  }
  return render_rec(&c, tmpl, out, 0, e);
}
