/* cli.c - what the verbs share: options, usage, start-up hooks, password input. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/mem.h"

static struct cli_startup startup;

void cli_set_startup(const struct cli_startup *s)
{
    startup = *s;
}

int cli_start(struct cli_opts *o)
{
    RAGD_ASSERT(startup.start);
    return startup.start(o);
}

int cli_start_knowledge(const char *data)
{
    RAGD_ASSERT(startup.start_knowledge);
    return startup.start_knowledge(data);
}

int cli_is_help(const char *s)
{
    return s && (!strcmp(s, "--help") || !strcmp(s, "-h") || !strcmp(s, "help"));
}

int cli_usage(const struct cli_verb *v, int help)
{
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: ragd %s", v->name);
    /* Continuation lines of the synopsis start with the verb again. */
    for (const char *p = v->args; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(f, " %.*s\n", (int)n, p);
        p += n;
        if (*p == '\n') {
            p++;
            fprintf(f, "       ragd %s", v->name);
        }
    }
    if (!*v->args) fputc('\n', f);
    fprintf(f, "\n%s\n", v->summary);
    if (v->help && *v->help) fprintf(f, "\n%s\n", v->help);
    return help ? 0 : 2;
}

int cli_parse_opts(int argc, char **argv, struct cli_opts *o, const struct cli_verb *v)
{
    static const struct option lo[] = {
        {"data", required_argument, 0, 'd'},     {"port", required_argument, 0, 'p'},
        {"host", required_argument, 0, 'H'},     {"email", required_argument, 0, 'e'},
        {"password", required_argument, 0, 'w'}, {"plan", required_argument, 0, 'P'},
        {"username", required_argument, 0, 'u'}, {"org", required_argument, 0, 'o'},
        {"user", required_argument, 0, 'U'},     {"name", required_argument, 0, 'n'},
        {"admin", no_argument, 0, 'a'},          {"demo", no_argument, 0, 'D'},
        {"stdin", no_argument, 0, 'S'},          {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, o->want_args ? "-h" : "+h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 'p': {
            char *end;
            long p = strtol(optarg, &end, 10);
            if (*end || end == optarg || p < 0 || p > 65535) {
                fprintf(stderr, "ragd %s: --port must be 0..65535\n", v->name);
                return 2;
            }
            o->port = (int)p;
            break;
        }
        case 'H':
            o->host = optarg;
            break;
        case 'e':
            o->email = optarg;
            break;
        case 'w':
            o->password = optarg;
            break;
        case 'P':
            o->plan = optarg;
            break;
        case 'u':
            o->username = optarg;
            break;
        case 'o':
            o->org = optarg;
            break;
        case 'U':
            o->user = optarg;
            break;
        case 'n':
            o->name = optarg;
            break;
        case 'a':
            o->admin = 1;
            break;
        case 'D':
            o->demo = 1;
            break;
        case 'S':
            o->stdin_password = 1;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'h':
            cli_usage(v, 1);
            return 1;
        case 1: /* a positional argument, in order ("-" in optstring) */
            if (!o->args) o->args = xcalloc((size_t)argc, sizeof *o->args); /* freed by exit */
            o->args[o->nargs++] = optarg;
            break;
        default:
            fprintf(stderr, "ragd %s: unknown option or missing value '%s' (see ragd %s --help)\n",
                    v->name, argv[optind - 1], v->name);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ragd %s: unexpected argument '%s' (see ragd %s --help)\n", v->name,
                argv[optind], v->name);
        return 2;
    }
    return 0;
}

int cli_read_password(const char *prompt, int confirm, int from_stdin, char *buf, size_t cap)
{
    if (from_stdin || !isatty(STDIN_FILENO)) {
        if (!fgets(buf, (int)cap, stdin)) {
            fprintf(stderr, "ragd: no password on standard input\n");
            return -1;
        }
        size_t n = strlen(buf);
        if (n && buf[n - 1] != '\n' && !feof(stdin)) {
            fprintf(stderr, "ragd: the password on standard input is too long\n");
            return -1;
        }
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = '\0';
        return 0;
    }
    for (int round = 0; round < (confirm ? 2 : 1); round++) {
        char *dst = round ? xmalloc(cap) : buf;
        fprintf(stderr, "%s", round ? "Again: " : prompt);
        fflush(stderr);
        struct termios old, quiet;
        int tty = tcgetattr(STDIN_FILENO, &old) == 0;
        if (tty) {
            quiet = old;
            quiet.c_lflag &= (tcflag_t)~ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        }
        char *got = fgets(dst, (int)cap, stdin);
        if (tty) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
        if (!got) {
            if (round) free(dst);
            return -1;
        }
        size_t n = strlen(dst);
        while (n && (dst[n - 1] == '\n' || dst[n - 1] == '\r'))
            dst[--n] = '\0';
        if (round) {
            int same = !strcmp(buf, dst);
            explicit_bzero(dst, cap);
            free(dst);
            if (!same) {
                fprintf(stderr, "ragd: the passwords differ\n");
                return -1;
            }
        }
    }
    return 0;
}
