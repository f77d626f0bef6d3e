/* sentiment: the lexicon scorer's rules one by one (negation and its scope, intensifiers and
 * downtoners, contrast, capitals, punctuation, emoji and emoticons, UTF-8 edge cases), the
 * priority rules and cues, suggested actions, label names, the llm verdict parser, and the
 * scorer selection by SENTIMENT_SCORER. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sentiment/sentiment.h"
#include "sentiment/sentiment_int.h"

static struct sentiment lex(const char *text)
{
    struct sentiment s;
    assert_int_equal(sentiment_lexicon_score(text, strlen(text), &s), 0);
    assert_true(s.score >= 0 && s.score <= 1);
    assert_true(s.polarity >= -1 && s.polarity <= 1);
    assert_string_equal(s.scorer, "lexicon");
    return s;
}

static double pol(const char *text)
{
    return lex(text).polarity;
}

static enum sentiment_label label(const char *text)
{
    return lex(text).label;
}

static void test_basic_labels(void **state)
{
    (void)state;
    assert_int_equal(label("How do I reset my password?"), SENTIMENT_NEUTRAL);
    assert_int_equal(label("The app is great"), SENTIMENT_POSITIVE);
    assert_int_equal(label("The app is terrible"), SENTIMENT_NEGATIVE);
    assert_int_equal(label(""), SENTIMENT_NEUTRAL);
    assert_true(pol("") == 0);
    /* the seed's example: a neutral question, medium priority */
    struct sentiment s = lex("How do I reset my password?");
    assert_int_equal(s.priority, SENTIMENT_MEDIUM);
    assert_true(s.score > 0.5);
}

static void test_negation(void **state)
{
    (void)state;
    assert_int_equal(label("This is good"), SENTIMENT_POSITIVE);
    assert_int_equal(label("This is not good"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("This isn't good"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("This isn\xe2\x80\x99t good"), SENTIMENT_NEGATIVE); /* U+2019 */
    assert_int_equal(label("Never had a problem with it"), SENTIMENT_POSITIVE);
    assert_true(pol("not bad") > 0);
    /* a function verb negated is a complaint */
    assert_int_equal(label("The export works"), SENTIMENT_POSITIVE);
    assert_int_equal(label("The export doesn't work"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("I never received the email"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("I want to export"), SENTIMENT_NEUTRAL); /* not negated: nothing */
    /* scope: a few tokens, ended by punctuation */
    assert_int_equal(label("not sure why but the support was great"), SENTIMENT_POSITIVE);
    assert_int_equal(label("I do not know, the app is great"), SENTIMENT_POSITIVE);
    assert_int_equal(label("I did not expect much, the result is good"), SENTIMENT_POSITIVE);
}

static void test_intensifiers(void **state)
{
    (void)state;
    double plain = pol("the app is slow"), very = pol("the app is very slow"),
           bit = pol("the app is slightly slow"), kind = pol("the app is kind of slow");
    assert_true(very < plain);
    assert_true(bit > plain && bit < 0);
    assert_true(kind > plain && kind < 0);
    assert_true(pol("extremely helpful") > pol("helpful"));
}

static void test_contrast(void **state)
{
    (void)state;
    assert_int_equal(label("The app is nice but it crashes constantly"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("It was slow at first but now it works great"), SENTIMENT_POSITIVE);
    assert_true(pol("good but slow") < pol("slow but good"));
    assert_true(pol("Although it was slow, it works great") > 0);
}

static void test_caps_and_punctuation(void **state)
{
    (void)state;
    assert_true(pol("this is BAD") < pol("this is bad"));
    assert_true(pol("this is bad!!!") < pol("this is bad"));
    assert_true(pol("this is great!!") > pol("this is great"));
    assert_true(pol("why is this broken?!") < pol("why is this broken"));
    /* all capitals: shouting is a cue and makes a complaint stronger */
    struct sentiment s = lex("THIS IS UNACCEPTABLE FIX IT");
    assert_int_equal(s.label, SENTIMENT_NEGATIVE);
    assert_true(s.cues & SENTIMENT_CUE_SHOUT);
    assert_true(s.priority >= SENTIMENT_HIGH);
    assert_false(lex("this is unacceptable").cues & SENTIMENT_CUE_SHOUT);
    /* tone without sentiment words: a demand for action now with !!, or capitals */
    assert_int_equal(label("I want a refund immediately!!!"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("I want a refund immediately"), SENTIMENT_NEUTRAL);
    assert_int_equal(label("WHERE IS MY ORDER"), SENTIMENT_NEGATIVE);
    assert_int_equal(label("Is this urgent?"), SENTIMENT_NEUTRAL);
    /* a question is damped */
    assert_true(pol("is it slow?") > pol("it is slow"));
}

static void test_emoji_and_emoticons(void **state)
{
    (void)state;
    assert_int_equal(label("\xf0\x9f\x98\x80"), SENTIMENT_POSITIVE);    /* grinning face */
    assert_int_equal(label("\xf0\x9f\x98\xa1"), SENTIMENT_NEGATIVE);    /* pouting face */
    assert_int_equal(label("ok \xf0\x9f\x91\x8d"), SENTIMENT_POSITIVE); /* thumbs up */
    assert_int_equal(label("ok \xf0\x9f\x91\x8e"), SENTIMENT_NEGATIVE); /* thumbs down */
    assert_int_equal(label("love it \xe2\x9d\xa4\xef\xb8\x8f"), SENTIMENT_POSITIVE); /* heart */
    assert_int_equal(label("thanks :)"), SENTIMENT_POSITIVE);
    assert_int_equal(label("it broke again :("), SENTIMENT_NEGATIVE);
    assert_int_equal(label(":-("), SENTIMENT_NEGATIVE);
    assert_int_equal(label("<3"), SENTIMENT_POSITIVE);
    assert_true(pol("fine :D") > pol("fine"));
    /* not emoticons: times, ratios, words with D and x */
    assert_int_equal(label("Meeting at 10:30 (room D)"), SENTIMENT_NEUTRAL);
    assert_int_equal(label("Do you ship to Dallas?"), SENTIMENT_NEUTRAL);
}

static void test_bytes(void **state)
{
    (void)state;
    /* invalid UTF-8, NULs inside, lone continuation bytes, truncated sequences */
    const char junk[] = "bad\xff\xfe\x80 \xf0\x9f\x98 great\0terrible \xe2\x80";
    struct sentiment s;
    assert_int_equal(sentiment_lexicon_score(junk, sizeof junk - 1, &s), 0);
    assert_int_equal(sentiment_lexicon_score("x", 0, &s), 0);
    assert_int_equal(s.label, SENTIMENT_NEUTRAL);
    assert_int_equal(sentiment_lexicon_score(NULL, 0, &s), RAGD_EINVAL);
    /* a long text: scored on its first tokens, no overflow */
    size_t n = 200000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "terrible! "[i % 10];
    big[n] = 0;
    assert_int_equal(sentiment_lexicon_score(big, n, &s), 0);
    assert_int_equal(s.label, SENTIMENT_NEGATIVE);
    free(big);
    /* a word longer than the lexicon's longest is not matched by a prefix of it */
    assert_int_equal(label("greatgreatgreatgreatgreatgreatgreatgreat"), SENTIMENT_NEUTRAL);
}

static void test_priority_rules(void **state)
{
    (void)state;
    assert_int_equal(lex("Thanks, all good").priority, SENTIMENT_LOW);
    assert_int_equal(lex("My order number is 1234").priority, SENTIMENT_LOW);
    assert_int_equal(lex("Can I change my plan?").priority, SENTIMENT_MEDIUM);
    assert_int_equal(lex("The export is a bit slow").priority, SENTIMENT_MEDIUM);
    assert_int_equal(lex("This is awful and useless, worst app ever").priority, SENTIMENT_HIGH);
    assert_int_equal(lex("It is a bit slow, so I am cancelling my subscription").priority,
                     SENTIMENT_HIGH);
    struct sentiment s = lex("The site is down for everyone, this is terrible");
    assert_true(s.cues & SENTIMENT_CUE_OUTAGE);
    assert_int_equal(s.priority, SENTIMENT_URGENT);
    s = lex("You stole my money, my lawyer will contact you");
    assert_true(s.cues & SENTIMENT_CUE_LEGAL);
    assert_int_equal(s.priority, SENTIMENT_URGENT);
    s = lex("My account was hacked and I lost all my files");
    assert_true(s.cues & SENTIMENT_CUE_SECURITY);
    assert_true(s.cues & SENTIMENT_CUE_DATA_LOSS);
    assert_int_equal(s.priority, SENTIMENT_URGENT);
    s = lex("I want to talk to a real person, this bot is useless");
    assert_true(s.cues & SENTIMENT_CUE_HUMAN);
    assert_true(s.priority >= SENTIMENT_HIGH);
    assert_true(lex("Get me a real person").cues & SENTIMENT_CUE_HUMAN);
    assert_true(lex("I need a human").cues & SENTIMENT_CUE_HUMAN);
    assert_false(lex("Your agent was rude").cues & SENTIMENT_CUE_HUMAN);
    /* a neutral question about cancelling is not a threat */
    s = lex("How do I cancel my subscription?");
    assert_int_equal(s.label, SENTIMENT_NEUTRAL);
    assert_true(s.cues & SENTIMENT_CUE_CANCEL);
    assert_int_equal(s.priority, SENTIMENT_MEDIUM);
    /* the table itself */
    assert_int_equal(sentiment_priority(SENTIMENT_POSITIVE, 0.9, SENTIMENT_CUE_LEGAL),
                     SENTIMENT_LOW);
    assert_int_equal(sentiment_priority(SENTIMENT_NEUTRAL, 0, SENTIMENT_CUE_OUTAGE),
                     SENTIMENT_HIGH);
    assert_int_equal(sentiment_priority(SENTIMENT_NEGATIVE, -0.3, 0), SENTIMENT_MEDIUM);
    assert_int_equal(sentiment_priority(SENTIMENT_NEGATIVE, -0.7, 0), SENTIMENT_HIGH);
    assert_int_equal(sentiment_priority(SENTIMENT_NEGATIVE, -0.7, SENTIMENT_CUE_NOW),
                     SENTIMENT_URGENT);
    assert_int_equal(
        sentiment_priority(SENTIMENT_NEGATIVE, -0.2,
                           SENTIMENT_CUE_REFUND | SENTIMENT_CUE_NOW | SENTIMENT_CUE_SHOUT),
        SENTIMENT_URGENT);
}

static int has(const struct sentiment *s, const char *action)
{
    const char *a[16];
    size_t n = sentiment_actions(s, a, 16);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(a[i], action)) return 1;
    return 0;
}

static void test_actions(void **state)
{
    (void)state;
    struct sentiment s = lex("I was charged twice, I want my money back immediately!");
    assert_true(has(&s, "share_refund_policy"));
    assert_true(has(&s, "review_billing_history"));
    assert_true(has(&s, "escalate_to_human"));
    assert_true(has(&s, "acknowledge_and_apologize"));
    s = lex("Thanks a lot!");
    assert_true(has(&s, "thank_customer"));
    assert_false(has(&s, "escalate_to_human"));
    const char *one[1];
    assert_int_equal(sentiment_actions(&s, one, 1), 1);
    assert_int_equal(sentiment_actions(&s, one, 0), 0);
}

static void test_names(void **state)
{
    (void)state;
    enum sentiment_label l;
    enum sentiment_priority p;
    assert_string_equal(sentiment_label_name(SENTIMENT_POSITIVE), "POSITIVE");
    assert_string_equal(sentiment_priority_name(SENTIMENT_URGENT), "URGENT");
    assert_int_equal(sentiment_label_parse("negative", &l), 0);
    assert_int_equal(l, SENTIMENT_NEGATIVE);
    assert_int_equal(sentiment_label_parse("5 stars", &l), 0);
    assert_int_equal(l, SENTIMENT_POSITIVE);
    assert_int_equal(sentiment_label_parse("NEU", &l), 0);
    assert_int_equal(l, SENTIMENT_NEUTRAL);
    assert_int_equal(sentiment_label_parse("joy", &l), RAGD_ENOTFOUND);
    assert_int_equal(sentiment_priority_parse("high", &p), 0);
    assert_int_equal(p, SENTIMENT_HIGH);
    assert_int_equal(sentiment_priority_parse("severe", &p), RAGD_ENOTFOUND);
}

static void test_llm_parse(void **state)
{
    (void)state;
    struct sentiment s;
    assert_int_equal(sentiment_llm_parse("{\"label\": \"NEGATIVE\", \"score\": 0.9}", &s), 0);
    assert_int_equal(s.label, SENTIMENT_NEGATIVE);
    assert_true(s.score == 0.9 && s.polarity == -0.9);
    assert_int_equal(
        sentiment_llm_parse("  ```json\n{\"label\":\"POSITIVE\",\"score\":1,\"polarity\":0.4}\n```",
                            &s),
        0);
    assert_true(s.label == SENTIMENT_POSITIVE && s.polarity == 0.4);
    const char *bad[] = {
        "",
        "NEGATIVE",
        "The sentiment is {\"label\": \"NEGATIVE\", \"score\": 0.9}",
        "{\"label\": \"negative\", \"score\": 0.9}",
        "{\"label\": \"ANGRY\", \"score\": 0.9}",
        "{\"label\": \"NEUTRAL\", \"score\": 1.5}",
        "{\"label\": \"NEUTRAL\", \"score\": \"0.5\"}",
        "{\"label\": \"NEUTRAL\"}",
        "{\"label\": \"NEUTRAL\", \"score\": 0.5, \"why\": \"x\"}",
        "{\"label\": \"NEUTRAL\", \"score\": 0.5, \"polarity\": -2}",
        "{\"label\": \"NEUTRAL\", \"score\": 0.5, \"label\": \"POSITIVE\"}",
        "[{\"label\": \"NEUTRAL\", \"score\": 0.5}]",
        "```json\n{\"label\": \"NEUTRAL\", \"score\": 0.5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (sentiment_llm_parse(bad[i], &s) != RAGD_EFORMAT) fail_msg("accepted: %s", bad[i]);
    assert_int_equal(sentiment_llm_parse(NULL, &s), RAGD_EINVAL);
}

static void test_summary(void **state)
{
    (void)state;
    struct sentiment_summary sum;
    sentiment_summary_init(&sum);
    assert_int_equal(sum.messages, 0);
    assert_int_equal(sum.max_priority, SENTIMENT_LOW);
    const char *msgs[] = {"Hi, how do I export my data?", "The export doesn't work",
                          "It is still broken, this is ridiculous",
                          "I want a refund immediately, you are useless!!!"};
    for (size_t i = 0; i < 4; i++) {
        struct sentiment s = lex(msgs[i]);
        sentiment_summary_add(&sum, &s, -0.3);
    }
    assert_int_equal(sum.messages, 4);
    assert_int_equal(sum.counts[SENTIMENT_NEUTRAL], 1);
    assert_int_equal(sum.counts[SENTIMENT_NEGATIVE], 3);
    assert_int_equal(sum.run_below, 3);
    assert_true(sum.min_polarity <= sum.last_polarity);
    assert_true(sum.trend < 0);
    assert_int_equal(sum.label, SENTIMENT_NEGATIVE);
    assert_true(sum.max_priority >= SENTIMENT_HIGH);
    assert_true(sum.cues & SENTIMENT_CUE_REFUND);
    /* a good message ends the run */
    struct sentiment ok = lex("Thanks, that fixed it!");
    sentiment_summary_add(&sum, &ok, -0.3);
    assert_int_equal(sum.run_below, 0);
    assert_true(sum.trend > 0);
}

static void test_selection(void **state)
{
    (void)state;
    char err[256];
    setenv("SENTIMENT_SCORER", "lexicon", 1);
    assert_int_equal(sentiment_init(err, sizeof err), 0);
    assert_string_equal(sentiment_scorer_name(), "lexicon");
    struct sentiment s;
    assert_int_equal(sentiment_score("great!", 6, &s), 0);
    assert_int_equal(s.label, SENTIMENT_POSITIVE);
    assert_string_equal(s.scorer, "lexicon");
    setenv("SENTIMENT_SCORER", "tea-leaves", 1);
    assert_int_equal(sentiment_init(err, sizeof err), RAGD_EINVAL);
    assert_non_null(strstr(err, "SENTIMENT_SCORER"));
    setenv("SENTIMENT_SCORER", "model", 1);
    unsetenv("SENTIMENT_MODEL");
    assert_int_equal(sentiment_init(err, sizeof err), RAGD_EINVAL);
    assert_non_null(strstr(err, "SENTIMENT_MODEL"));
    setenv("SENTIMENT_MODEL", "/nonexistent/model", 1);
    assert_int_not_equal(sentiment_init(err, sizeof err), 0);
    assert_string_equal(sentiment_scorer_name(), "lexicon"); /* a failed init changes nothing */
    assert_int_equal(sentiment_score(NULL, 0, &s), RAGD_EINVAL);
    sentiment_shutdown();
    unsetenv("SENTIMENT_SCORER");
    unsetenv("SENTIMENT_MODEL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_labels),
        cmocka_unit_test(test_negation),
        cmocka_unit_test(test_intensifiers),
        cmocka_unit_test(test_contrast),
        cmocka_unit_test(test_caps_and_punctuation),
        cmocka_unit_test(test_emoji_and_emoticons),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_priority_rules),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_llm_parse),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
