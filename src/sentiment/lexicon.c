/* lexicon.c - the built-in scorer: a lexicon of customer-support English and a few rules.
 *
 * The text is cut into tokens (words, emoji, emoticons, ! ? and clause breaks); each word
 * with a valence (-4 .. +4) adds it to the message's sum after the rules:
 *   - negation: a negator (not, never, no, n't words, without, hardly) flips the next
 *     NEG_SCOPE words of its clause: a positive word becomes weakly negative (x -0.75), a
 *     negative one weakly positive (x -0.5) ("never had a problem"), and a function verb
 *     ("work", "load", "arrive") becomes a complaint ("doesn't work");
 *   - intensifiers ("very", "so", "completely") scale the next sentiment word by 1.2-1.6,
 *     downtoners ("slightly", "a bit", "kind of") by 0.5-0.8;
 *   - contrast: "but" / "however" halve what came before and weigh what follows by 1.5;
 *     "although" / "though" / "even if" halve their own clause;
 *   - capitals: a word in capitals inside a text that is not all capitals counts 1.5 times;
 *   - punctuation: each ! (up to four) adds 0.3 in the direction of the sum, repeated ? or ?!
 *     add 0.2 each to a negative sum; a question without ! is damped a little;
 *   - emoji and emoticons carry their own valence;
 *   - tone: a demand for action now with !! or capitals, or a message in capitals, counts as
 *     frustration when no sentiment word says otherwise.
 * The sum s becomes a polarity s / sqrt(s^2 + 15) in -1..1 and a label by two thresholds.
 * Texts are scored on their first MAX_TOKENS tokens (one scratch buffer per call). */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "sentiment/sentiment.h"
#include "sentiment/sentiment_int.h"

#define MAX_TOKENS 1024
#define MAX_WORD 31
#define NEG_SCOPE 3
#define ALPHA 15.0
#define POS_THRESHOLD 0.12
#define NEG_THRESHOLD 0.12
#define EXCL_BOOST 0.3
#define QUESTION_BOOST 0.2
#define QUESTION_DAMP 0.85
#define CAPS_BOOST 1.5
#define FUNC_NEGATED (-1.8)

/* ---- the lexicon ---- */

enum kind {
    K_SENT,       /* a valence */
    K_NEG,        /* negator */
    K_INT,        /* intensifier: scales the next sentiment word */
    K_CONTRAST,   /* but, however */
    K_CONCESSIVE, /* although, though */
    K_FUNC,       /* a verb whose negation is a complaint: work, load, arrive */
    K_CUE,        /* no valence, only cues */
};

struct entry {
    const char *w; /* lower case; a trailing '*' matches any ending */
    float v;       /* valence, or the multiplier for K_INT */
    unsigned char kind;
    unsigned short cues;
};

#define S(w, v)                                                                                    \
    {                                                                                              \
        w, v, K_SENT, 0                                                                            \
    }
#define SC(w, v, c)                                                                                \
    {                                                                                              \
        w, v, K_SENT, c                                                                            \
    }
#define N(w)                                                                                       \
    {                                                                                              \
        w, 0, K_NEG, 0                                                                             \
    }
#define I(w, m)                                                                                    \
    {                                                                                              \
        w, m, K_INT, 0                                                                             \
    }
#define F(w)                                                                                       \
    {                                                                                              \
        w, 0, K_FUNC, 0                                                                            \
    }
#define C(w, c)                                                                                    \
    {                                                                                              \
        w, 0, K_CUE, c                                                                             \
    }

#define LEGAL SENTIMENT_CUE_LEGAL
#define SECUR SENTIMENT_CUE_SECURITY
#define OUTAGE SENTIMENT_CUE_OUTAGE
#define LOSS SENTIMENT_CUE_DATA_LOSS
#define CANCEL SENTIMENT_CUE_CANCEL
#define REFUND SENTIMENT_CUE_REFUND
#define NOW SENTIMENT_CUE_NOW
#define HUMAN SENTIMENT_CUE_HUMAN
#define BILL SENTIMENT_CUE_BILLING

static struct entry words[] = {
    /* praise and thanks */
    S("thank*", 2.0),
    S("thx", 1.5),
    S("ty", 1.0),
    S("thanx", 1.5),
    S("cheers", 1.2),
    S("appreciate*", 2.0),
    S("grateful", 2.2),
    S("great", 2.5),
    S("good", 1.8),
    S("excellent", 3.0),
    S("amazing", 3.0),
    S("awesome", 3.0),
    S("fantastic", 3.0),
    S("wonderful", 3.0),
    S("perfect", 2.8),
    S("perfectly", 2.2),
    S("love", 2.8),
    S("loved", 2.8),
    S("loving", 2.5),
    S("loves", 2.5),
    S("lovely", 2.5),
    S("nice", 1.8),
    S("brilliant", 3.0),
    S("superb", 3.0),
    S("outstanding", 3.2),
    S("impressed", 2.5),
    S("impressive", 2.5),
    S("helpful", 2.2),
    S("useful", 1.8),
    S("happy", 2.5),
    S("glad", 2.0),
    S("pleased", 2.2),
    S("satisfied", 2.0),
    S("delighted", 3.0),
    S("thrilled", 3.0),
    S("smooth", 1.5),
    S("smoothly", 1.5),
    S("seamless", 2.2),
    S("easy", 1.5),
    S("easier", 1.3),
    S("intuitive", 2.0),
    S("fast", 1.2),
    S("faster", 1.0),
    S("quick", 1.2),
    S("quickly", 1.0),
    S("solved", 1.8),
    S("resolved", 1.6),
    S("fixed", 1.5),
    S("works", 0.6),
    S("worked", 1.0),
    S("best", 2.5),
    S("better", 1.4),
    S("well", 0.6),
    S("cool", 1.3),
    S("kind", 1.5),
    S("friendly", 2.0),
    S("patient", 1.5),
    S("patience", 1.2),
    S("recommend*", 2.0),
    S("fan", 1.5),
    S("enjoy*", 2.2),
    S("beautiful", 2.5),
    S("clean", 1.0),
    S("reliable", 2.0),
    S("stable", 1.2),
    S("wow", 2.0),
    S("yay", 2.5),
    S("sweet", 1.5),
    S("fine", 0.8),
    S("ok", 0.3),
    S("okay", 0.3),
    S("thankful", 2.2),
    S("kudos", 2.5),
    S("bravo", 2.5),
    S("congrat*", 2.2),
    S("lifesaver", 3.0),
    S("saved", 1.5),
    S("success*", 1.8),
    S("win", 1.5),
    S("valuable", 2.0),
    S("handy", 1.6),
    S("pleasant", 2.0),
    S("incredible", 2.8),
    S("prompt", 1.2),
    S("responsive", 1.5),
    S("clear", 1.0),
    S("helped", 1.8),
    S("worth", 1.5),
    S("glowing", 2.0),
    S("exceeded", 2.2),
    S("terrific", 3.0),
    S("star", 1.0),
    S("stars", 0.5),
    S("legend", 2.5),
    S("hero", 2.5),
    S("phew", 1.2),
    S("relieved", 1.8),
    S("finally", 0.3),
    S("welcome", 1.2),
    S("nicely", 1.8),
    S("flawless*", 2.8),
    S("painless", 2.0),
    S("top", 1.0),
    S("solid", 1.5),
    S("efficient", 2.0),
    S("convenient", 1.8),
    S("sorted", 1.2),
    S("fab", 2.5),
    S("rocks", 2.2),
    S("neat", 1.5),
    S("excited", 2.2),
    S("exciting", 2.2),
    S("wonderfully", 2.5),
    S("favorite", 2.0),
    S("favourite", 2.0),
    S("like", 1.3),
    S("likes", 1.3),
    S("liked", 1.3),
    S("improvement", 2.0),
    S("improved", 1.6),
    S("improvements", 1.6),
    S("blank", -1.2),
    S("times", -0.5),
    S("spot", 0.2),
    /* complaints */
    S("bad", -2.2),
    S("terrible", -3.2),
    S("horrible", -3.2),
    S("awful", -3.2),
    S("worst", -3.5),
    S("worse", -2.5),
    S("poor", -2.0),
    S("poorly", -2.0),
    S("hate", -3.0),
    S("hated", -3.0),
    S("hates", -3.0),
    S("useless", -3.0),
    S("pathetic", -3.2),
    S("ridiculous*", -2.8),
    S("unacceptable", -3.2),
    S("disgust*", -3.2),
    S("disappoint*", -2.5),
    S("frustrat*", -2.5),
    S("annoy*", -2.2),
    S("angry", -3.0),
    S("anger*", -2.8),
    S("furious", -3.5),
    S("livid", -3.5),
    S("mad", -2.5),
    S("upset", -2.5),
    S("irritat*", -2.2),
    S("sick", -2.0),
    S("tired", -1.8),
    S("fed", -0.5),
    S("broken", -2.2),
    S("broke", -2.0),
    S("bug", -1.5),
    S("bugs", -1.8),
    S("buggy", -2.2),
    S("glitch*", -1.8),
    S("crash*", -2.2),
    S("error", -1.4),
    S("errors", -1.6),
    S("fail", -2.0),
    S("fails", -2.0),
    S("failed", -2.0),
    S("failing", -2.0),
    S("failure", -2.2),
    S("issue", -0.9),
    S("issues", -1.2),
    S("problem", -1.2),
    S("problems", -1.5),
    S("wrong", -1.6),
    S("stuck", -1.6),
    S("missing", -1.3),
    S("lost", -1.5),
    S("slow", -1.6),
    S("slower", -1.5),
    S("sluggish", -1.8),
    S("laggy", -1.8),
    S("lag", -1.2),
    S("freez*", -1.8),
    S("froze", -1.8),
    S("frozen", -1.6),
    S("hang*", -0.8),
    S("timeout*", -1.4),
    S("down", -0.6),
    S("unusable", -3.0),
    S("nightmare", -3.2),
    S("disaster", -3.2),
    S("mess", -2.2),
    S("messed", -2.2),
    S("joke", -2.0),
    S("scam", -3.5),
    SC("fraud*", -3.2, SECUR),
    S("ripoff", -3.2),
    S("rip", -1.0),
    S("steal*", -3.0),
    S("stole", -3.0),
    SC("stolen", -2.5, SECUR),
    S("waste", -2.5),
    S("wasted", -2.5),
    S("wasting", -2.5),
    S("confus*", -1.5),
    S("complicated", -1.5),
    S("difficult", -1.5),
    S("hard", -0.8),
    S("impossible", -2.2),
    S("unhappy", -2.5),
    S("unreliable", -2.5),
    S("unresponsive", -2.2),
    S("incompetent", -3.2),
    S("rude", -2.8),
    S("lied", -3.0),
    S("lie", -2.5),
    S("lies", -2.8),
    S("lying", -3.0),
    S("ignored", -2.5),
    S("ignoring", -2.5),
    S("ignore", -1.5),
    S("waiting", -1.0),
    S("waited", -1.5),
    S("still", -0.4),
    S("again", -0.5),
    S("yet", -0.2),
    S("ugh", -2.2),
    S("argh", -2.5),
    S("sigh", -1.5),
    S("wtf", -3.0),
    S("damn", -2.2),
    S("crap", -2.8),
    S("crappy", -3.0),
    S("garbage", -3.0),
    S("trash", -3.0),
    S("junk", -2.8),
    S("sucks", -3.0),
    S("suck", -2.8),
    S("shit*", -3.2),
    S("hell", -2.2),
    S("bloody", -1.5),
    S("stupid", -2.8),
    S("idiotic", -3.0),
    S("dumb", -2.5),
    S("insane", -1.5),
    S("shocking", -2.5),
    S("shocked", -2.2),
    S("outrage*", -3.2),
    S("appalling", -3.4),
    S("appalled", -3.2),
    S("fault*", -1.2),
    SC("overcharg*", -2.8, BILL),
    SC("charged", -0.6, BILL),
    SC("unauthori*", -2.2, SECUR),
    S("refused", -2.0),
    S("denied", -1.8),
    S("rejected", -1.5),
    S("declined", -1.2),
    S("expensive", -1.5),
    S("overpriced", -2.5),
    S("worried", -1.8),
    S("worry", -1.2),
    S("concern*", -1.0),
    S("scared", -2.0),
    S("afraid", -1.5),
    S("unfortunately", -1.2),
    S("sadly", -1.5),
    S("sad", -2.0),
    S("cheated", -3.0),
    S("misleading", -2.5),
    S("inconsisten*", -1.5),
    S("corrupt*", -2.2),
    S("deleted", -0.8),
    S("disappeared", -2.0),
    S("vanished", -2.0),
    S("gone", -1.0),
    S("nowhere", -1.5),
    S("hours", -0.3),
    S("days", -0.3),
    S("weeks", -0.6),
    S("months", -0.4),
    S("forever", -1.2),
    S("ages", -1.0),
    S("inconvenien*", -2.0),
    S("hassle", -2.0),
    S("annoyance", -2.2),
    S("flaky", -2.2),
    S("spam*", -1.8),
    S("awkward", -1.5),
    S("clunky", -2.0),
    S("outdated", -1.5),
    S("horrendous", -3.5),
    S("atrocious", -3.5),
    S("dreadful", -3.2),
    S("lousy", -2.8),
    S("mediocre", -1.8),
    S("meh", -1.2),
    S("disappointing", -2.5),
    S("nope", -0.8),
    S("unbelievable", -1.8),
    S("pointless", -2.5),
    S("hopeless", -2.8),
    S("desperate", -2.5),
    S("struggl*", -1.8),
    S("suffer*", -2.2),
    S("pain", -2.0),
    S("painful", -2.5),
    S("regret*", -2.5),
    S("shame", -2.2),
    S("shameful", -3.0),
    S("embarrass*", -2.2),
    SC("cancel", 0, CANCEL),
    SC("cancelling", -0.3, CANCEL),
    SC("canceling", -0.3, CANCEL),
    SC("unsubscrib*", -0.8, CANCEL),
    SC("refund*", 0, REFUND),
    SC("chargeback", -2.5, REFUND),
    SC("dispute", -1.5, REFUND),
    S("complain*", -2.0),
    S("escalat*", -1.2),
    S("threat*", -1.5),
    SC("lawyer", -2.0, LEGAL),
    SC("attorney", -2.0, LEGAL),
    SC("lawsuit", -2.5, LEGAL),
    SC("sue", -2.5, LEGAL),
    SC("hacked", -2.8, SECUR),
    SC("breach", -2.5, SECUR),
    SC("compromised", -2.5, SECUR),
    SC("outage", -2.2, OUTAGE),
    S("leak*", -2.0),
    S("spent", -0.4),
    S("blocked", -1.4),
    S("locked", -1.2),
    S("duplicate*", -1.0),
    S("twice", -0.6),
    S("bounced", -1.2),
    S("weird", -1.2),
    S("strange", -1.0),
    S("odd", -0.8),
    S("incorrect", -1.8),
    S("inaccurate", -2.0),
    S("irrelevant", -1.8),
    S("nonsense", -2.5),
    S("garbled", -2.0),
    S("gibberish", -2.5),
    S("hallucinat*", -2.0),
    S("careless", -2.2),
    S("lack*", -1.2),
    S("barely", -1.0),
    S("sorry", -0.3),
    S("apolog*", 0.0),
    S("please", 0.0),
    S("disgrace*", -3.2),
    S("sloppy", -2.2),
    S("glacial", -2.2),
    S("dead", -1.8),
    S("dies", -1.5),
    S("died", -1.5),
    S("killing", -1.8),
    S("kills", -1.5),
    S("bricked", -3.0),
    S("unable", -1.2),
    S("refuses", -2.0),
    S("refuse", -1.5),
    S("keeps", -0.6),
    S("constantly", -0.8),
    S("always", -0.2),
    S("overwhelmed", -1.8),
    S("hopefully", 0.4),
    S("fingers", 0.0),
    /* negators */
    N("not"),
    N("no"),
    N("never"),
    N("none"),
    N("nobody"),
    N("neither"),
    N("nor"),
    N("without"),
    N("hardly"),
    N("cannot"),
    N("cant"),
    N("dont"),
    N("doesnt"),
    N("didnt"),
    N("isnt"),
    N("wasnt"),
    N("arent"),
    N("werent"),
    N("havent"),
    N("hasnt"),
    N("hadnt"),
    N("wont"),
    N("wouldnt"),
    N("couldnt"),
    N("shouldnt"),
    N("aint"),
    N("nothing"),
    N("can't"),
    N("don't"),
    N("doesn't"),
    N("didn't"),
    N("isn't"),
    N("wasn't"),
    N("aren't"),
    N("weren't"),
    N("haven't"),
    N("hasn't"),
    N("hadn't"),
    N("won't"),
    N("wouldn't"),
    N("couldn't"),
    N("shouldn't"),
    N("ain't"),
    N("nt"),
    /* intensifiers and downtoners */
    I("very", 1.4),
    I("really", 1.35),
    I("so", 1.35),
    I("extremely", 1.6),
    I("totally", 1.45),
    I("absolutely", 1.5),
    I("completely", 1.5),
    I("incredibly", 1.5),
    I("super", 1.4),
    I("utterly", 1.6),
    I("truly", 1.35),
    I("highly", 1.35),
    I("too", 1.2),
    I("such", 1.3),
    I("insanely", 1.5),
    I("terribly", 1.5),
    I("ridiculously", 1.5),
    I("most", 1.2),
    I("beyond", 1.4),
    I("entirely", 1.4),
    I("seriously", 1.3),
    I("deeply", 1.4),
    I("majorly", 1.4),
    I("massively", 1.5),
    I("hugely", 1.5),
    I("particularly", 1.2),
    I("especially", 1.2),
    I("exceptionally", 1.5),
    I("remarkably", 1.4),
    I("quite", 1.1),
    I("slightly", 0.55),
    I("somewhat", 0.65),
    I("little", 0.7),
    I("bit", 0.7),
    I("fairly", 0.8),
    I("rather", 0.85),
    I("mildly", 0.55),
    I("marginally", 0.6),
    I("partly", 0.7),
    I("partially", 0.7),
    I("almost", 0.8),
    I("mostly", 0.85),
    I("occasionally", 0.7),
    I("sometimes", 0.8),
    I("kinda", 0.7),
    I("sorta", 0.7),
    /* contrast */
    {"but", 0, K_CONTRAST, 0},
    {"however", 0, K_CONTRAST, 0},
    {"except", 0, K_CONTRAST, 0},
    {"although", 0, K_CONCESSIVE, 0},
    {"though", 0, K_CONCESSIVE, 0},
    {"despite", 0, K_CONCESSIVE, 0},
    {"whereas", 0, K_CONCESSIVE, 0},
    /* verbs whose negation is a complaint */
    F("work"),
    F("working"),
    F("load"),
    F("loading"),
    F("loads"),
    F("open"),
    F("opening"),
    F("opens"),
    F("connect"),
    F("connecting"),
    F("sync"),
    F("syncing"),
    F("login"),
    F("log"),
    F("access"),
    F("receive"),
    F("received"),
    F("arrive"),
    F("arrived"),
    F("respond"),
    F("responded"),
    F("responding"),
    F("help"),
    F("helping"),
    F("fix"),
    F("start"),
    F("starting"),
    F("send"),
    F("sending"),
    F("sent"),
    F("save"),
    F("saving"),
    F("upload"),
    F("uploading"),
    F("download"),
    F("downloading"),
    F("show"),
    F("showing"),
    F("shows"),
    F("display"),
    F("answer"),
    F("answered"),
    F("answers"),
    F("update"),
    F("updating"),
    F("process"),
    F("processed"),
    F("go"),
    F("goes"),
    F("function"),
    F("functioning"),
    F("run"),
    F("running"),
    F("deliver"),
    F("delivered"),
    F("accept"),
    F("accepting"),
    F("reply"),
    F("replied"),
    F("get"),
    F("getting"),
    F("got"),
    F("happen"),
    F("happened"),
    F("appear"),
    F("appearing"),
    F("match"),
    F("recognize"),
    F("recognise"),
    F("verify"),
    F("authenticate"),
    F("render"),
    F("print"),
    F("import"),
    F("export"),
    F("install"),
    F("boot"),
    F("charge"),
    F("refunded"),
    F("reach"),
    F("hear"),
    F("heard"),
    F("care"),
    F("matter"),
    F("fire"),
    F("fires"),
    F("trigger"),
    F("triggers"),
    F("showed"),
    F("shown"),
    F("authorize"),
    F("authorise"),
    F("authorized"),
    F("return"),
    F("returned"),
    /* cues without valence */
    C("court", LEGAL),
    C("legal", LEGAL),
    C("ombudsman", LEGAL),
    C("regulator", LEGAL),
    C("solicitor", LEGAL),
    C("litigation", LEGAL),
    C("gdpr", LEGAL),
    C("suing", LEGAL),
    C("lawyers", LEGAL),
    C("police", LEGAL),
    C("ftc", LEGAL),
    C("bbb", LEGAL),
    C("phishing", SECUR),
    C("suspicious", SECUR),
    C("intrusion", SECUR),
    C("everyone", 0),
    C("production", 0),
    C("prod", 0),
    C("offline", OUTAGE),
    C("immediately", NOW),
    C("asap", NOW),
    C("urgent", NOW),
    C("urgently", NOW),
    C("emergency", NOW),
    C("now!", NOW),
    C("critical", NOW),
    C("deadline", NOW),
    C("manager", HUMAN),
    C("supervisor", HUMAN),
    C("human", HUMAN),
    C("humans", HUMAN),
    C("agent", HUMAN),
    C("representative", HUMAN),
    C("rep", HUMAN),
    C("operator", HUMAN),
    C("invoice", BILL),
    C("invoices", BILL),
    C("billing", BILL),
    C("billed", BILL),
    C("payment", BILL),
    C("subscription", BILL),
    C("card", BILL),
    C("renewal", BILL),
    C("competitor", CANCEL),
    C("competitors", CANCEL),
    C("terminate", CANCEL),
    C("cancellation", CANCEL),
    C("elsewhere", CANCEL),
};

/* Multi-word expressions, matched before single words. */
struct phrase {
    const char *w[4];
    float v;
    unsigned short cues;
    float mult; /* non-zero: an intensifier or downtoner phrase ("kind of") */
};

static struct phrase phrases[] = {
    /* sorted by first word at start */
    {{"kind", "of"}, 0, 0, 0.7},
    {{"sort", "of"}, 0, 0, 0.7},
    {{"a", "bit"}, 0, 0, 0.7},
    {{"a", "little"}, 0, 0, 0.7},
    {{"a", "tad"}, 0, 0, 0.7},
    {{"at", "all"}, 0, 0, 1.3},
    {{"so", "much"}, 0, 0, 1.3},
    {{"way", "too"}, 0, 0, 1.5},
    {{"by", "far"}, 0, 0, 1.3},
    {{"thank", "you"}, 2.2, 0},
    {{"thanks", "a", "lot"}, 2.5, 0},
    {{"no", "problem"}, 0.8, 0},
    {{"no", "problems"}, 0.8, 0},
    {{"no", "worries"}, 1.0, 0},
    {{"no", "issues"}, 1.0, 0},
    {{"no", "issue"}, 0.8, 0},
    {{"not", "sure"}, 0, 0},
    {{"no", "idea"}, -0.3, 0},
    {{"no", "longer"}, -1.2, 0},
    {{"no", "response"}, -2.0, 0},
    {{"no", "reply"}, -2.0, 0},
    {{"no", "answer"}, -1.8, 0},
    {{"no", "one"}, -1.5, 0},
    {{"no", "help"}, -2.0, 0},
    {{"can't", "wait"}, 2.0, 0},
    {{"cant", "wait"}, 2.0, 0},
    {{"couldn't", "be", "happier"}, 3.2, 0},
    {{"could", "not", "be", "happier"}, 3.2, 0},
    {{"couldn't", "be", "worse"}, -3.2, 0},
    {{"waste", "of", "time"}, -3.0, 0},
    {{"waste", "of", "money"}, -3.2, 0},
    {{"rip", "off"}, -3.2, 0},
    {{"fed", "up"}, -2.8, 0},
    {{"had", "enough"}, -2.5, 0},
    {{"last", "straw"}, -3.0, CANCEL},
    {{"still", "waiting"}, -2.2, 0},
    {{"still", "not"}, -1.0, 0},
    {{"still", "broken"}, -3.0, 0},
    {{"works", "great"}, 2.8, 0},
    {{"works", "perfectly"}, 2.8, 0},
    {{"works", "now"}, 1.8, 0},
    {{"working", "now"}, 1.8, 0},
    {{"all", "good"}, 1.8, 0},
    {{"well", "done"}, 2.5, 0},
    {{"good", "job"}, 2.5, 0},
    {{"great", "job"}, 3.0, 0},
    {{"made", "my", "day"}, 3.0, 0},
    {{"big", "help"}, 2.5, 0},
    {{"huge", "help"}, 2.8, 0},
    {{"spot", "on"}, 2.5, 0},
    {{"up", "and", "running"}, 1.8, 0},
    {{"went", "smoothly"}, 2.2, 0},
    {{"as", "expected"}, 0.8, 0},
    {{"piece", "of", "junk"}, -3.2, 0},
    {{"good", "morning"}, 0, 0},
    {{"good", "afternoon"}, 0, 0},
    {{"good", "evening"}, 0, 0},
    {{"good", "day"}, 0, 0},
    {{"how", "long"}, 0, 0},
    {{"quick", "question"}, 0, 0},
    {{"quick", "one"}, 0, 0},
    {{"would", "like"}, 0, 0},
    {{"i'd", "like"}, 0, 0},
    {{"id", "like"}, 0, 0},
    {{"like", "to"}, 0, 0},
    {{"looks", "like"}, 0, 0},
    {{"look", "like"}, 0, 0},
    {{"seems", "like"}, 0, 0},
    {{"feel", "like"}, 0, 0},
    {{"just", "like"}, 0, 0},
    {{"like", "this"}, 0, 0},
    {{"like", "that"}, 0, 0},
    {{"something", "like"}, 0, 0},
    {{"used", "to", "be"}, 0, 0, -0.6},
    {{"you", "people"}, -1.5, 0},
    {{"why", "would", "you"}, -1.5, 0},
    {{"i've", "asked"}, -1.2, 0},
    {{"i", "asked"}, -0.6, 0},
    {{"already", "asked"}, -1.2, 0},
    {{"one", "star"}, -2.5, 0},
    {{"1", "star"}, -2.5, 0},
    {{"two", "stars"}, -1.5, 0},
    {{"five", "stars"}, 2.5, 0},
    {{"5", "stars"}, 2.5, 0},
    {{"supposed", "to"}, -1.2, 0},
    {{"expected", "better"}, -2.2, 0},
    {{"expect", "better"}, -2.0, 0},
    {{"for", "an", "hour"}, -1.2, 0},
    {{"in", "the", "dark"}, -1.5, 0},
    {{"for", "hours"}, -1.2, 0},
    {{"for", "days"}, -1.5, 0},
    {{"for", "weeks"}, -1.8, 0},
    {{"three", "times"}, -0.8, 0},
    {{"multiple", "times"}, -1.0, 0},
    {{"several", "times"}, -1.0, 0},
    {{"keeps", "crashing"}, -3.0, 0},
    {{"keeps", "failing"}, -3.0, 0},
    {{"charged", "twice"}, -2.5, BILL | REFUND},
    {{"double", "charged"}, -2.5, BILL | REFUND},
    {{"charged", "again"}, -2.2, BILL},
    {{"money", "back"}, -1.5, REFUND},
    {{"my", "money"}, -0.5, REFUND},
    {{"legal", "action"}, -2.5, LEGAL},
    {{"small", "claims"}, -2.5, LEGAL},
    {{"report", "you"}, -2.5, LEGAL},
    {{"consumer", "protection"}, -2.0, LEGAL},
    {{"data", "loss"}, -2.8, LOSS},
    {{"lost", "all"}, -3.0, LOSS},
    {{"lost", "everything"}, -3.2, LOSS},
    {{"all", "my", "data"}, -1.0, LOSS},
    {{"all", "my", "files"}, -1.0, LOSS},
    {{"data", "is", "gone"}, -3.0, LOSS},
    {{"files", "are", "gone"}, -3.0, LOSS},
    {{"wiped"}, -2.8, LOSS},
    {{"down", "for", "everyone"}, -2.5, OUTAGE},
    {{"is", "down"}, -2.0, OUTAGE},
    {{"are", "down"}, -2.0, OUTAGE},
    {{"went", "down"}, -2.0, OUTAGE},
    {{"site", "down"}, -2.2, OUTAGE},
    {{"production", "is"}, 0, OUTAGE},
    {{"all", "users"}, 0, 0},
    {{"whole", "team"}, -0.4, 0},
    {{"right", "now"}, -0.3, NOW},
    {{"right", "away"}, -0.2, NOW},
    {{"as", "soon", "as", "possible"}, -0.3, NOW},
    {{"this", "instant"}, -0.5, NOW},
    {{"close", "my", "account"}, -1.5, CANCEL},
    {{"delete", "my", "account"}, -1.2, CANCEL},
    {{"switch", "to"}, -0.5, CANCEL},
    {{"switching", "to"}, -0.8, CANCEL},
    {{"moving", "to"}, -0.3, CANCEL},
    {{"take", "my", "business"}, -2.5, CANCEL},
    {{"going", "elsewhere"}, -2.0, CANCEL},
    {{"cancel", "my"}, 0, CANCEL},
    {{"cancel", "the"}, -0.4, CANCEL},
    {{"cancelling", "my"}, -1.2, CANCEL},
    {{"canceling", "my"}, -1.2, CANCEL},
    {{"i'm", "done"}, -2.2, CANCEL},
    {{"im", "done"}, -2.2, CANCEL},
    {{"i", "am", "done"}, -2.2, CANCEL},
    {{"real", "person"}, -0.8, HUMAN},
    {{"live", "person"}, -0.5, HUMAN},
    {{"actual", "person"}, -0.8, HUMAN},
    {{"a", "person"}, 0, HUMAN},
    {{"someone", "real"}, -0.8, HUMAN},
    {{"talk", "to", "someone"}, -0.3, HUMAN},
    {{"speak", "to", "someone"}, -0.3, HUMAN},
    {{"customer", "service"}, 0, 0},
    {{"customer", "support"}, 0, 0},
    {{"account", "was", "hacked"}, -3.0, SECUR},
    {{"identity", "theft"}, -3.0, SECUR},
    {{"someone", "logged"}, -1.5, SECUR},
    {{"data", "breach"}, -3.0, SECUR},
};

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->w, ((const struct entry *)b)->w);
}

static size_t n_exact; /* words[0 .. n_exact) are exact, sorted; the rest are stems */
#define MAX_STEMS 96
static unsigned char stem_len[MAX_STEMS]; /* length of words[n_exact + i] without its '*' */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int is_stem(const struct entry *e)
{
    size_t n = strlen(e->w);
    return n > 1 && e->w[n - 1] == '*';
}

static int stem_last(const void *a, const void *b)
{
    int sa = is_stem(a), sb = is_stem(b);
    if (sa != sb) return sa - sb;
    return cmp_entry(a, b);
}

static int cmp_phrase(const void *a, const void *b)
{
    return strcmp(((const struct phrase *)a)->w[0], ((const struct phrase *)b)->w[0]);
}

static void emoticons_prepare(void);

/* Every exact word and every phrase's first word, by FNV-1a hash with linear probing: the
 * word's entry (or -1) and its first phrase in the sorted phrases (or -1). */
#define SLOTS 4096
struct slot {
    const char *w;
    short entry, phrase;
};
static struct slot slots[SLOTS];

static uint32_t hash_word(const char *w)
{
    uint32_t h = 2166136261u;
    while (*w)
        h = (h ^ (unsigned char)*w++) * 16777619u;
    return h;
}

static struct slot *slot_of(const char *w, int insert)
{
    for (uint32_t i = hash_word(w) & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        if (!slots[i].w) {
            if (!insert) return NULL;
            slots[i] = (struct slot){w, -1, -1};
            return &slots[i];
        }
        if (!strcmp(slots[i].w, w)) return &slots[i];
    }
}

static void prepare(void)
{
    emoticons_prepare();
    qsort(phrases, sizeof phrases / sizeof *phrases, sizeof *phrases, cmp_phrase);
    size_t n = sizeof words / sizeof *words;
    qsort(words, n, sizeof *words, stem_last);
    n_exact = 0;
    while (n_exact < n && !is_stem(&words[n_exact]))
        n_exact++;
    for (size_t i = 1; i < n_exact; i++) /* one meaning per word */
        RAGD_ASSERT(strcmp(words[i - 1].w, words[i].w) != 0);
    RAGD_ASSERT(n - n_exact <= MAX_STEMS);
    for (size_t i = n_exact; i < n; i++)
        stem_len[i - n_exact] = (unsigned char)(strlen(words[i].w) - 1);
    size_t np = sizeof phrases / sizeof *phrases;
    RAGD_ASSERT(n_exact + np < SLOTS / 2); /* probes stay short */
    for (size_t i = 0; i < n_exact; i++)
        slot_of(words[i].w, 1)->entry = (short)i;
    for (size_t i = 0; i < np; i++) {
        struct slot *sl = slot_of(phrases[i].w[0], 1);
        if (sl->phrase < 0) sl->phrase = (short)i;
    }
}

static const struct entry *lookup(const char *w, size_t len)
{
    const struct slot *sl = slot_of(w, 0);
    if (sl && sl->entry >= 0) return &words[sl->entry];
    size_t n = sizeof words / sizeof *words;
    for (size_t i = n_exact; i < n; i++) {
        size_t sl = stem_len[i - n_exact];
        if (len >= sl && !memcmp(words[i].w, w, sl)) return &words[i];
    }
    return NULL;
}

/* ---- emoji and emoticons ---- */

struct emoji {
    uint32_t lo, hi;
    float v;
};

static const struct emoji emoji_table[] = {
    {0x1F600, 0x1F606, 2.0},                           /* grinning .. laughing */
    {0x1F607, 0x1F607, 1.8},  {0x1F609, 0x1F60D, 2.2}, /* wink .. heart eyes */
    {0x1F60E, 0x1F60E, 1.8},  {0x1F60F, 0x1F60F, 0.0},  {0x1F610, 0x1F611, -0.5},
    {0x1F612, 0x1F612, -1.8}, {0x1F613, 0x1F613, -1.2}, {0x1F614, 0x1F614, -1.8},
    {0x1F615, 0x1F615, -1.5}, {0x1F616, 0x1F616, -2.2}, {0x1F617, 0x1F61A, 1.8},
    {0x1F61B, 0x1F61D, 1.2},  {0x1F61E, 0x1F61F, -2.0}, {0x1F620, 0x1F621, -3.0},
    {0x1F622, 0x1F622, -2.2}, {0x1F623, 0x1F625, -2.0}, {0x1F626, 0x1F627, -1.8},
    {0x1F628, 0x1F62B, -2.2}, {0x1F62C, 0x1F62C, -1.0}, {0x1F62D, 0x1F62D, -2.5},
    {0x1F62E, 0x1F62F, -0.5}, {0x1F630, 0x1F631, -2.2}, {0x1F632, 0x1F632, -0.5},
    {0x1F633, 0x1F633, -0.8}, {0x1F634, 0x1F634, -0.8}, {0x1F635, 0x1F635, -1.8},
    {0x1F637, 0x1F637, -1.0}, {0x1F641, 0x1F641, -1.8}, {0x1F642, 0x1F642, 1.5},
    {0x1F643, 0x1F643, -0.5}, {0x1F644, 0x1F644, -2.0}, {0x1F64C, 0x1F64C, 2.2},
    {0x1F64F, 0x1F64F, 1.8},  {0x1F44D, 0x1F44D, 2.0}, /* thumbs up */
    {0x1F44E, 0x1F44E, -2.2}, {0x1F44F, 0x1F44F, 2.0},  {0x1F44C, 0x1F44C, 1.8},
    {0x1F4A9, 0x1F4A9, -2.5}, {0x1F494, 0x1F494, -2.5}, {0x1F496, 0x1F49F, 2.5},
    {0x1F389, 0x1F38A, 2.2},  {0x1F4AF, 0x1F4AF, 2.0},  {0x1F525, 0x1F525, 1.0},
    {0x1F680, 0x1F680, 1.8},  {0x1F910, 0x1F910, -0.8}, {0x1F911, 0x1F911, 0.8},
    {0x1F914, 0x1F914, -0.3}, {0x1F917, 0x1F917, 2.0},  {0x1F91E, 0x1F91E, 0.6},
    {0x1F923, 0x1F923, 1.5},  {0x1F926, 0x1F926, -2.0}, {0x1F92C, 0x1F92C, -3.5},
    {0x1F92E, 0x1F92E, -2.8}, {0x1F970, 0x1F970, 2.8},  {0x1F973, 0x1F973, 2.5},
    {0x1F97A, 0x1F97A, -1.0}, {0x1F972, 0x1F972, -0.5}, {0x2639, 0x2639, -2.0},
    {0x263A, 0x263A, 2.0},    {0x2764, 0x2764, 2.5},    {0x2705, 0x2705, 1.2},
    {0x274C, 0x274C, -1.5},   {0x26A0, 0x26A0, -1.2},   {0x2728, 0x2728, 1.5},
    {0x2B50, 0x2B50, 1.5},    {0x1F31F, 0x1F31F, 1.8},  {0x1F621, 0x1F621, -3.0},
    {0x1F4A2, 0x1F4A2, -2.5}, {0x1F4A5, 0x1F4A5, -0.8}, {0x1F480, 0x1F480, -1.0},
};

static float emoji_valence(uint32_t cp)
{
    for (size_t i = 0; i < sizeof emoji_table / sizeof *emoji_table; i++)
        if (cp >= emoji_table[i].lo && cp <= emoji_table[i].hi) return emoji_table[i].v;
    return 0;
}

struct emoticon {
    const char *s;
    float v;
    size_t len; /* of s, set at start */
};

/* Longest first within a shared prefix. */
static struct emoticon emoticons[] = {
    {">:-(", -3.0}, {">:(", -3.0}, {":'-(", -2.5}, {":'(", -2.5}, {":-))", 2.2}, {":))", 2.2},
    {":-)", 1.8},   {":)", 1.8},   {":-(", -1.8},  {":(", -1.8},  {":-D", 2.2},  {":D", 2.2},
    {";-)", 1.5},   {";)", 1.5},   {":-/", -1.2},  {":/", -1.2},  {":-|", -0.5}, {":|", -0.5},
    {":-P", 1.0},   {":P", 1.0},   {":p", 1.0},    {"<3", 2.2},   {"</3", -2.2}, {"=)", 1.5},
    {"=(", -1.5},   {"xD", 1.5},   {"XD", 1.5},    {":-S", -1.2}, {":S", -1.2},  {"D:", -2.0},
};

static void emoticons_prepare(void)
{
    for (size_t i = 0; i < sizeof emoticons / sizeof *emoticons; i++)
        emoticons[i].len = strlen(emoticons[i].s);
}

/* ---- tokens ---- */

enum tkind { T_WORD, T_SENT, T_EXCL, T_QUEST, T_BREAK, T_COMMA };

struct tok {
    unsigned char kind;
    unsigned char caps; /* a word in capitals */
    unsigned char len;  /* word length in w */
    char w[MAX_WORD + 1];
    float v; /* T_SENT: emoji or emoticon valence */
};

struct text {
    struct tok t[MAX_TOKENS];
    int n;
    int excl, quest, qe; /* counts of !, ? and ?! / !? / ?? runs */
    int words, caps_words;
};

/* Decodes one UTF-8 sequence at s (n bytes left). Returns its length (1 for an invalid byte,
 * with *cp = 0xFFFD). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!need || need > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = need == 1 ? c : need == 2 ? c & 0x1F : need == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return need;
}

static int is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'';
}

static struct tok *push(struct text *x, enum tkind k)
{
    if (x->n >= MAX_TOKENS) return NULL;
    struct tok *t = &x->t[x->n++];
    memset(t, 0, offsetof(struct tok, w) + 1);
    t->kind = (unsigned char)k;
    t->v = 0;
    return t;
}

static void tokenize(const char *text, size_t len, struct text *x)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    x->n = x->excl = x->quest = x->qe = x->words = x->caps_words = 0;
    while (i < len && x->n < MAX_TOKENS) {
        unsigned c = s[i];
        /* emoticons: at a token start */
        if (c == ':' || c == ';' || c == '=' || c == '<' || c == '>' || c == 'x' || c == 'X' ||
            c == 'D') {
            int prev_ok = i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n' || s[i - 1] == '\t' ||
                          !is_word_byte(s[i - 1]);
            size_t k = 0;
            for (; prev_ok && k < sizeof emoticons / sizeof *emoticons; k++) {
                size_t el = emoticons[k].len;
                if (el <= len - i && !memcmp(s + i, emoticons[k].s, el) &&
                    (i + el == len || !is_word_byte(s[i + el]))) {
                    struct tok *t = push(x, T_SENT);
                    if (t) t->v = emoticons[k].v;
                    i += el;
                    break;
                }
            }
            if (prev_ok && k < sizeof emoticons / sizeof *emoticons) continue;
        }
        if (is_word_byte((unsigned char)c) ||
            (c == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && s[i + 2] == 0x99 && i > 0 &&
             is_word_byte(s[i - 1]))) {
            struct tok *t = push(x, T_WORD);
            int upper = 0, lower = 0;
            size_t wl = 0;
            while (i < len) {
                unsigned char b = s[i];
                if (b == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && s[i + 2] == 0x99) {
                    b = '\'';
                    i += 2; /* U+2019 right single quotation mark as an apostrophe */
                } else if (!is_word_byte(b)) {
                    break;
                }
                i++;
                if (b >= 'A' && b <= 'Z') {
                    upper++;
                    b = (unsigned char)(b - 'A' + 'a');
                } else if (b >= 'a' && b <= 'z') {
                    lower++;
                }
                if (wl < MAX_WORD) t->w[wl++] = (char)b;
            }
            /* strip quotes around a word and a possessive 's */
            size_t st = 0;
            while (st < wl && t->w[st] == '\'')
                st++;
            while (wl > st && t->w[wl - 1] == '\'')
                wl--;
            if (wl - st > 2 && t->w[wl - 2] == '\'' && t->w[wl - 1] == 's' &&
                strncmp(t->w + st, "it's", 4) && strncmp(t->w + st, "that's", 6))
                wl -= 2;
            memmove(t->w, t->w + st, wl - st);
            wl -= st;
            t->w[wl] = 0;
            t->len = (unsigned char)wl;
            if (wl == 0) {
                x->n--;
                continue;
            }
            if (upper + lower > 0) x->words++;
            if (upper >= 2 && lower == 0) {
                t->caps = 1;
                x->caps_words++;
            }
            continue;
        }
        uint32_t cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        i += n;
        if (cp == '!') {
            x->excl++;
            if (x->n && x->t[x->n - 1].kind == T_QUEST) x->qe++;
            struct tok *t = x->n && x->t[x->n - 1].kind == T_EXCL ? NULL : push(x, T_EXCL);
            (void)t;
        } else if (cp == '?') {
            x->quest++;
            if (x->n && (x->t[x->n - 1].kind == T_QUEST || x->t[x->n - 1].kind == T_EXCL)) x->qe++;
            if (!(x->n && x->t[x->n - 1].kind == T_QUEST)) push(x, T_QUEST);
        } else if (cp == '.' || cp == ';' || cp == '\n' || cp == ':' || cp == 0x2026) {
            if (!(x->n && x->t[x->n - 1].kind == T_BREAK)) push(x, T_BREAK);
        } else if (cp == ',' || cp == '(' || cp == ')' || cp == '-' || cp == 0x2013 ||
                   cp == 0x2014) {
            if (!(x->n && x->t[x->n - 1].kind == T_COMMA)) push(x, T_COMMA);
        } else if (cp >= 0x2000) {
            float v = emoji_valence(cp);
            if (v != 0) {
                struct tok *t = push(x, T_SENT);
                if (t) t->v = v;
            }
        }
    }
}

/* ---- scoring ---- */

static int word_is(const struct tok *t, const char *w)
{
    return t->kind == T_WORD && !strcmp(t->w, w);
}

/* The phrase starting at token i, if any: returns its length in tokens. */
static int match_phrase(const struct text *x, int i, const struct phrase **out)
{
    int best = 0;
    const struct slot *sl = slot_of(x->t[i].w, 0);
    if (!sl || sl->phrase < 0) return 0;
    for (size_t p = (size_t)sl->phrase;
         p < sizeof phrases / sizeof *phrases && word_is(&x->t[i], phrases[p].w[0]); p++) {
        int k = 0;
        while (k < 4 && phrases[p].w[k] && i + k < x->n && word_is(&x->t[i + k], phrases[p].w[k]))
            k++;
        if (k > best && (k == 4 || !phrases[p].w[k])) {
            best = k;
            *out = &phrases[p];
        }
    }
    return best;
}

static int starts_question(const char *w)
{
    static const char *const q[] = {"how",   "what",    "where",  "when",     "why",     "which",
                                    "who",   "can",     "could",  "would",    "is",      "are",
                                    "do",    "does",    "will",   "should",   "please",  "help",
                                    "need",  "want",    "i'd",    "id",       "where's", "what's",
                                    "how's", "looking", "trying", "is there", NULL};
    for (int i = 0; q[i]; i++)
        if (!strcmp(w, q[i])) return 1;
    return 0;
}

int sentiment_lexicon_score(const char *text, size_t len, struct sentiment *out)
{
    if (!text || !out) return RAGD_EINVAL;
    double pol;
    unsigned cues = sentiment_lexicon_scan(text, len, &pol);
    enum sentiment_label l = pol >= POS_THRESHOLD    ? SENTIMENT_POSITIVE
                             : pol <= -NEG_THRESHOLD ? SENTIMENT_NEGATIVE
                                                     : SENTIMENT_NEUTRAL;
    double a = fabs(pol), conf;
    if (l == SENTIMENT_NEUTRAL) {
        conf = 0.5 + 0.4 * (1.0 - a / (pol >= 0 ? POS_THRESHOLD : NEG_THRESHOLD));
    } else {
        double t = l == SENTIMENT_POSITIVE ? POS_THRESHOLD : NEG_THRESHOLD;
        double f = (a - t) / (0.8 - t);
        conf = 0.55 + 0.44 * (f > 1 ? 1 : f);
    }
    *out = (struct sentiment){.label = l,
                              .score = conf,
                              .polarity = pol,
                              .priority = sentiment_priority(l, pol, cues),
                              .cues = cues,
                              .scorer = "lexicon"};
    return 0;
}

/* The whole analysis: polarity out, cues returned. */
unsigned sentiment_lexicon_scan(const char *text, size_t len, double *polarity)
{
    pthread_once(&once, prepare);
    struct text *x = xmalloc(sizeof *x); /* 40 KiB: off the stack of a network thread */
    tokenize(text, len, x);
    int shouting = x->words >= 3 && x->caps_words * 2 > x->words;
    unsigned cues = 0;
    double sum = 0, clause_w = 1.0, after_w = 1.0, mult = 1.0;
    int neg_left = 0, mult_left = 0, concessive = 0, first_word = 1;
    int saw_talk = 0;
    for (int i = 0; i < x->n; i++) {
        struct tok *t = &x->t[i];
        if (t->kind == T_BREAK || t->kind == T_EXCL || t->kind == T_QUEST) {
            neg_left = 0;
            mult_left = 0;
            if (concessive) clause_w = 1.0, concessive = 0;
            first_word = 1;
            continue;
        }
        if (t->kind == T_COMMA) {
            neg_left = 0;
            if (concessive) clause_w = 1.0, concessive = 0;
            continue;
        }
        double v = 0;
        int is_func = 0;
        if (t->kind == T_SENT) {
            v = t->v;
        } else {
            if (first_word && starts_question(t->w)) cues |= SENTIMENT_CUE_ASK;
            first_word = 0;
            /* "agent", "manager", "human" ask for a person only next to such a verb ("your
             * agent was rude" does not); "real person" and the like always do */
            if (strchr("tsceawn", t->w[0]) &&
                (!strcmp(t->w, "talk") || !strcmp(t->w, "speak") || !strcmp(t->w, "connect") ||
                 !strcmp(t->w, "transfer") || !strcmp(t->w, "escalate") ||
                 !strcmp(t->w, "contact") || !strcmp(t->w, "call") || !strcmp(t->w, "want") ||
                 !strcmp(t->w, "need")))
                saw_talk = 1;
            const struct phrase *ph = NULL;
            int pl = match_phrase(x, i, &ph);
            if (pl) {
                cues |= ph->cues;
                if (ph->cues & SENTIMENT_CUE_HUMAN) saw_talk = 1;
                v = ph->v;
                i += pl - 1;
                if (ph->mult != 0) {
                    mult = ph->mult;
                    mult_left = 2;
                    continue;
                }
                if (v == 0) continue;
            } else {
                const struct entry *e = t->len ? lookup(t->w, t->len) : NULL;
                if (!e) {
                    if (neg_left) neg_left--;
                    if (mult_left) mult_left--;
                    continue;
                }
                cues |= e->cues;
                switch (e->kind) {
                case K_NEG:
                    neg_left = NEG_SCOPE;
                    continue;
                case K_INT:
                    mult = t->caps && !shouting ? e->v * 1.2 : e->v;
                    mult_left = 2;
                    continue;
                case K_CONTRAST:
                    sum *= 0.5;
                    after_w = 1.5;
                    neg_left = 0;
                    continue;
                case K_CONCESSIVE:
                    clause_w = 0.5;
                    concessive = 1;
                    neg_left = 0;
                    continue;
                case K_CUE:
                    if (neg_left) neg_left--;
                    continue;
                case K_FUNC:
                    is_func = 1;
                    break;
                default:
                    v = e->v;
                    break;
                }
            }
            if (t->caps && !shouting) v *= CAPS_BOOST;
        }
        if (neg_left) {
            if (is_func)
                v = FUNC_NEGATED;
            else
                v = v > 0 ? v * -0.75 : v * -0.5;
            neg_left = 0;
        } else if (is_func) {
            continue;
        }
        if (v == 0) continue;
        if (mult_left) {
            v *= mult;
            mult_left = 0;
        }
        sum += v * clause_w * after_w;
    }
    if (saw_talk && (cues & SENTIMENT_CUE_HUMAN)) {
        /* a request for a person is a sign of frustration */
        sum -= 0.8;
    } else {
        cues &= ~(unsigned)SENTIMENT_CUE_HUMAN;
    }
    if (x->quest) cues |= SENTIMENT_CUE_ASK;
    if (shouting || x->excl >= 3) cues |= SENTIMENT_CUE_SHOUT;
    /* tone without sentiment words: a demand for action now with !! or in capitals, or a
     * whole message in capitals, is frustration ("I want a refund immediately!!!") */
    if (sum > -1.0 && (cues & SENTIMENT_CUE_NOW) && (x->excl >= 2 || shouting))
        sum -= 1.2;
    else if (sum >= 0 && shouting)
        sum -= 1.0;
    /* punctuation emphasis */
    if (sum != 0) {
        int e = x->excl < 4 ? x->excl : 4;
        double boost = e * EXCL_BOOST + (sum < 0 ? (x->qe < 4 ? x->qe : 4) * QUESTION_BOOST : 0);
        sum += sum > 0 ? boost : -boost;
        if (x->quest && !x->excl) sum *= QUESTION_DAMP;
        if (shouting) sum *= 1.3;
    }
    free(x);
    double p = sum / sqrt(sum * sum + ALPHA);
    *polarity = p < -1 ? -1 : p > 1 ? 1 : p;
    return cues;
}

static int lexicon_open(void **state, char *err, size_t errcap)
{
    (void)err;
    (void)errcap;
    *state = NULL;
    return 0;
}

static int lexicon_score(void *state, const char *text, size_t len, struct sentiment *out)
{
    (void)state;
    return sentiment_lexicon_score(text, len, out);
}

static void lexicon_close(void *state)
{
    (void)state;
}

const struct sentiment_ops sentiment_lexicon_ops = {"lexicon", lexicon_open, lexicon_score,
                                                    lexicon_close};
