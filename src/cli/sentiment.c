/* sentiment.c (cli) - `ragd sentiment`: the sentiment scorer from the command line
 * (sentiment/sentiment.h sentiment_cli does the work). */
#include "cli/cli.h"
#include "sentiment/sentiment.h"

const struct cli_verb cli_sentiment_verb = {
    .name = "sentiment",
    .args = "score TEXT...\neval FILE [--errors]",
    .summary = "Score messages with the sentiment scorer, or measure it on a labelled file.",
    .help = "score prints one JSON line per text with the live scorer (SENTIMENT_SCORER); eval\n"
            "reads LABEL<TAB>TEXT lines and prints accuracy, per-class precision and recall and\n"
            "the cost per message; --errors lists the misses.",
    .run = sentiment_cli,
};
