/* Prompt templates: the text each generator hears. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/prompt.h"

static void check(const char *tmpl, const rg_prompt_fields *f, const char *want)
{
    char out[512];
    rg_error err = {0};
    if (!rg_compose_prompt(tmpl, f, out, sizeof out, &err))
        fail_msg("'%s': %s", tmpl, err.message);
    assert_string_equal(out, want);
}

static void default_template(void **state)
{
    (void)state;
    rg_prompt_fields f = {.prompt = "dark minimal techno", .track = "bass", .tempo = 124,
                          .meter_num = 4, .meter_den = 4, .key = "A minor"};
    check(RG_PROMPT_TEMPLATE_DEFAULT, &f, "bass, dark minimal techno, 124 bpm, A minor");
    f.key = NULL;
    check(RG_PROMPT_TEMPLATE_DEFAULT, &f, "bass, dark minimal techno, 124 bpm");
    f.track = NULL;
    check(RG_PROMPT_TEMPLATE_DEFAULT, &f, "dark minimal techno, 124 bpm");
    f.tempo = 0;
    f.prompt = "";
    check(RG_PROMPT_TEMPLATE_DEFAULT, &f, "");
    f.tempo = 97.5;
    check("{tempo} bpm", &f, "97.5 bpm");
}

static void custom_templates(void **state)
{
    (void)state;
    rg_prompt_fields f = {.prompt = "acid", .track = "lead", .tempo = 140, .meter_num = 7, .meter_den = 8};
    check("a {track} in {meter} at {tempo}: {prompt}", &f, "a lead in 7/8 at 140: acid");
    check("literal {{braces}} {prompt}", &f, "literal {braces} acid");
    check("no fields at all", &f, "no fields at all");
}

static void bad_templates(void **state)
{
    (void)state;
    rg_prompt_fields f = {.prompt = "x"};
    char out[64];
    rg_error err;
    assert_false(rg_compose_prompt("{genre} music", &f, out, sizeof out, &err));
    assert_non_null(strstr(err.message, "unknown field 'genre'"));
    assert_false(rg_compose_prompt("{prompt", &f, out, sizeof out, &err));
    assert_non_null(strstr(err.message, "unclosed"));
    char tiny[4];
    assert_false(rg_compose_prompt("{prompt} and more", &f, tiny, sizeof tiny, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_template),
        cmocka_unit_test(custom_templates),
        cmocka_unit_test(bad_templates),
    };
    return cmocka_run_group_tests_name("prompt", tests, NULL, NULL);
}
