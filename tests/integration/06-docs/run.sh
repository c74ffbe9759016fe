#!/bin/bash
# Documentation: certherd(8) and certherd.conf(5) are lint-clean (mandoc -T lint) and complete against
# the code (every command and option of main.c's tables, every inventory key, problem code, MESSAGE_ID and
# journal field, every hook variable); docs/ names the same (and every command of certherd(8) and every
# metric); the bash completion offers commands, options and the names of the inventory's certificates
# and CAs.
source "$(dirname "$0")/../lib.sh"
need mandoc

src=$(cd "$(dirname "$0")/../../.." && pwd)
man8=$src/units/man/certherd.8
man5=$src/units/man/certherd.conf.5

# --- lint. Two kinds of message depend on the host, not on the pages: whether the manuals named by .Xr
# are installed here ("referenced manual not found", including each other's), and a stale mandoc.db.
mandoc -T lint "$man8" "$man5" >"$T/lint" 2>&1 || true
grep -v -e 'STYLE: referenced manual not found' -e 'outdated mandoc.db' "$T/lint" >"$T/lint.real" || true
if [[ -s $T/lint.real ]]; then cat "$T/lint.real" >&2; die "mandoc -T lint reports problems"; fi
ok "mandoc -T lint: clean"
# Both render.
for m in "$man8" "$man5"; do
        mandoc -T utf8 "$m" >"$T/render" 2>/dev/null && [[ $(wc -l <"$T/render") -gt 50 ]] || die "$m does not render"
done
ok "both pages render"

# --- completeness. in_page PAGE REGEX WHAT: the page must match.
missing=()
in_page() { grep -Eq -- "$2" "$1" || missing+=("$(basename "$1"): $3"); }

# main.c's verb table: {"NAME", VERB_X, cli_x}, one line each.
verbs=$(grep -oE '^\s*\{ ?"[a-z]+", VERB_[A-Z]+, cli_[a-z]+ ?\},' "$src/agent/cli/main.c" | cut -d'"' -f2 | sort -u)
[[ $(wc -w <<<"$verbs") -ge 11 ]] || die "no commands found in main.c's verb table"
for v in $verbs; do in_page "$man8" "^\.It Cm $v( |$)" "command $v"; done

# main.c's option table: {"NAME", no_argument|required_argument, …
longopts=$(grep -oE '^\s*\{ ?"[a-z-]+", (no|required|optional)_argument' "$src/agent/cli/main.c" | cut -d'"' -f2)
[[ $(wc -w <<<"$longopts") -ge 22 ]] || die "no options found in main.c's option table"
for o in $longopts; do in_page "$man8" "^\.It .*Fl Fl $o( |$)" "option --$o"; done
in_page "$man8" '^\.It Fl c ' "option -c"
in_page "$man8" '^\.It Fl h ' "option -h"
for code in 0 1 2 3; do in_page "$man8" "^\.It $code\$" "exit status $code"; done

problems=$(grep -oE '\[PROBLEM_[A-Z_]+\] = \{ "[a-z-]+"' "$src/agent/shared/x509.c" | cut -d'"' -f2)
[[ $(wc -w <<<"$problems") -ge 13 ]] || die "problem codes not found in x509.c"
for p in $problems; do in_page "$man8" "^\.It Li $p " "problem code $p"; done

ids=$(grep -oE '"[0-9a-f]{32}"' "$src/agent/basic/message-id.h" | tr -d '"')
[[ $(wc -w <<<"$ids") -ge 12 ]] || die "MESSAGE_IDs not found"
for id in $ids; do in_page "$man8" "^\.It [a-z-]+ Ta $id Ta " "MESSAGE_ID $id"; done

fields=$(grep -ohE '"CERTHERD_[A-Z_]+=' "$src"/agent/*/*.c | tr -d '"=' | sort -u)
[[ -n $fields ]] || die "no journal fields found"
for f in $fields; do in_page "$man8" "Va $f( |$)" "journal field $f"; done

hookvars=$(grep -ohE '\{ "CERTHERD_[A-Z_]+", ' "$src/agent/shared/notify.c" | cut -d'"' -f2 | sort -u)
[[ -n $hookvars ]] || die "no hook variables found in notify.c"
for h in $hookvars; do in_page "$man8" "Ev $h( |$)" "hook variable $h"; in_page "$man5" "Ev $h( |$)" "hook variable $h"; done

# Inventory keys: from the parser's table, section by section as conf/certherd.conf lists them.
keys=$(grep -oE '^\s*KEY\("[a-z-]+"' "$src/agent/shared/config-value.c" | cut -d'"' -f2 | sort -u)
[[ $(wc -w <<<"$keys") -ge 30 ]] || die "inventory keys not found in config-value.c"
# The completion knows every command and option too.
for v in $verbs; do grep -Eq "^ *local commands='.*\b$v\b" "$src/units/certherd.bash-completion" ||
        missing+=("completion: command $v"); done
for o in $longopts; do grep -q -- "--$o\b" "$src/units/certherd.bash-completion" || missing+=("completion: --$o"); done
for k in $keys; do
        in_page "$man5" "^\.It (Cm [a-z-]+ , )*Cm $k( |$)" "key $k"
        grep -Eq "^;?$k +=" "$src/conf/certherd.conf" || missing+=("conf/certherd.conf: key $k")
done
for s in agent acme ca certificate; do in_page "$man5" "^\.Ss The \[$s[] ]" "section [$s]"; done

for f in certherd.service certherd-renew.service certherd-renew.timer sysusers.d/certherd.conf \
        tmpfiles.d/certherd.conf certherd.catalog 50-certherd.rules /etc/certherd/certherd.conf \
        /var/lib/certherd /run/certherd/pins; do
        in_page "$man8" "Pa .*${f//./\\.}" "file $f"
done

# --- docs/ restates the contracts for readers; it must name the same things, each in its page, as code
# (`name`) so that a word in a sentence does not count. Commands: main.c's and the man page's COMMANDS.
docs=$src/docs
in_doc() { grep -Eq -- "$2" "$docs/$1" 2>/dev/null || missing+=("docs/$1: $3"); }
man_cmds=$(sed -n '/^\.Sh COMMANDS/,/^\.Sh [A-Z]/p' "$man8" | grep '^\.It Cm ' |
        sed -E 's/^\.It Cm //; s/ (Ar|Op|Fl|No|Ns|Oo|Pq)( .*|$)//')
[[ $(wc -l <<<"$man_cmds") -ge 8 ]] || die "commands not found in certherd(8) COMMANDS"
while read -r cmd; do in_doc cli.md "\`(certherd )?$cmd( |\`)" "command $cmd"; done <<<"$man_cmds"
for v in $verbs; do in_doc cli.md "\`(certherd )?$v( |\`)" "command $v"; done
for o in $longopts; do in_doc cli.md "\`--$o[=\` ]" "option --$o"; done
for p in $problems; do in_doc problems.md "^\| \`$p\` " "problem code $p"; done
for k in $keys; do in_doc inventory.md "^\| (\`[a-z-]+\`, )*\`$k\`" "key $k"; done
for id in $ids; do in_doc journal.md "\`$id\`" "MESSAGE_ID $id"; done
for f in $fields; do in_doc journal.md "^\| \`$f\` " "journal field $f"; done
for h in $hookvars; do in_doc journal.md "^\| \`$h\` " "hook variable $h"; done
metrics=$(grep -oE '"certherd_[a-z_]+' "$src/agent/core/metrics.c" | tr -d '"' | sort -u)
[[ $(wc -w <<<"$metrics") -ge 5 ]] || die "metric names not found in metrics.c"
for m in $metrics; do in_doc metrics.md "^\| \`$m\` " "metric $m"; done
for s in agent acme ca certificate; do in_doc inventory.md "^## \`\[$s[] ]" "section [$s]"; done

if [[ ${#missing[@]} -gt 0 ]]; then printf 'missing: %s\n' "${missing[@]}" >&2; die "${#missing[@]} items undocumented"; fi
ok "certherd(8): $(wc -w <<<"$verbs") commands, $(wc -w <<<"$longopts") options, $(wc -w <<<"$problems") problems, $(wc -w <<<"$ids") MESSAGE_IDs, $(wc -w <<<"$fields") fields"
ok "certherd.conf(5) and conf/certherd.conf: $(wc -w <<<"$keys") keys"
ok "docs/: $(wc -l <<<"$man_cmds") commands, $(wc -w <<<"$problems") problems, $(wc -w <<<"$keys") keys, $(wc -w <<<"$metrics") metrics, journal"

# --- bash completion
bc=/usr/share/bash-completion/bash_completion
[[ -r $bc ]] || skip "bash-completion is not installed (apt-get install -y bash-completion); man pages passed"

mkdir -p "$T/etc/conf.d"
cat >"$T/etc/certherd.conf" <<CONF
[agent]
$(conf_ca internal "$T/ca")
[acme "le"]
directory = https://acme.invalid/directory
[certificate "web"]
certificate = $T/web.crt
CONF
printf '[certificate "db"]\ncertificate = %s/db.crt\n  [ certificate  "api-gw" ]\ncertificate = x\n' "$T" \
        >"$T/etc/conf.d/10-more.conf"
printf '[certificate "ignored"]\n' >"$T/etc/conf.d/20-off.conf.example"

# complete WORDS...: run the completion for the command line WORDS (the last one being completed) and
# print the sorted candidates on one line.
complete_line() {
        bash --norc --noprofile -c '
                source "$1"; source "$2"; shift 2
                COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
                COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                _certherd certherd "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                ((${#COMPREPLY[@]})) && printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "; true' _ \
                "$bc" "$src/units/certherd.bash-completion" "$@"
}
want() { # EXPECTED WORDS...
        local exp=$1 got
        shift
        got=$(complete_line "$@")
        [[ $got == "$exp" ]] || die "completing '$*': got '$got', want '$exp'"
}
want "acme ca check discover import pin recover renew revoke run status " certherd ""
want "recover renew revoke run " certherd r
want "--config " certherd --co
want "api-gw db web " certherd -c "$T/etc/certherd.conf" check ""
want "api-gw db web " certherd --config="$T/etc/certherd.conf" --json renew ""
want "db " certherd -c "$T/etc/certherd.conf" renew d
want "--force " certherd -c "$T/etc/certherd.conf" renew --fo
want "import init list revoke rotate sign " certherd ca ""
want "--reissue " certherd -c "$T/etc/certherd.conf" ca rotate internal --re
want "client server server+client " certherd ca sign internal x.csr --usage ""
want "internal " certherd -c "$T/etc/certherd.conf" ca init ""
want "internal " certherd -c "$T/etc/certherd.conf" ca list ""
want "api-gw db web " certherd -c "$T/etc/certherd.conf" ca revoke ""
want "internal " certherd -c "$T/etc/certherd.conf" ca revoke --ca ""
want "key-compromise " certherd ca revoke web --reason key-c
want "ari caa-record persist-record profiles rollover " certherd acme ""
want "le " certherd -c "$T/etc/certherd.conf" acme rollover ""
want "keyCompromise " certherd revoke web --reason keyC
want "base64 curl hex " certherd pin --format ""
want "" certherd -c "$T/etc/certherd.conf" status ""
CERTHERD_CONFIG=$T/etc/certherd.conf want "api-gw db web " certherd check ""
ok "bash completion: commands, options, certificate and CA names from the inventory and its conf.d"
