# A host nginx for tests and benchmarks (sourced): one TLS server on a loopback port, with its own
# configuration, pid file, logs and temp paths under one directory, so it touches nothing of the machine's
# nginx. Needs the nginx binary (apt-get install -y nginx-light); the master runs as the caller, workers as
# nobody when that is root.
#
#   ng_setup DIR PORT CERT KEY   write DIR/nginx.conf: `listen 127.0.0.1:PORT ssl` serving CERT and KEY
#   ng_head DIR [ACCESS-LOG]     the top of an nginx.conf kept in DIR (pid file, DIR/logs, DIR/temp), up to
#                                and into `http {`, for a test that writes its own servers and the closing }
#   ng DIR ARGS...               nginx with DIR's prefix, configuration and error log: ng DIR -t, ng DIR -s reload
#   ng_start DIR                 start it (master in the background, daemon off); sets NG_PID, waits for the pid
#                                file; returns 1 with the error log on stderr when it does not start
#   ng_hook DIR HOOK             write HOOK, an `exec =` hook that reloads that nginx (graceful: new workers
#                                take the new certificate, old ones finish their connections)
#   ng_stop DIR                  graceful stop by its pid file (a test's cleanup may kill NG_PID instead)

ng_head() {
        local dir=$1 t
        echo "daemon off;"
        echo "worker_processes 1;"
        echo "pid $dir/nginx.pid;"
        echo "error_log $dir/logs/error.log notice;"
        echo "events { worker_connections 256; }"
        echo "http {"
        echo "        access_log ${2:-off};"
        for t in client_body proxy fastcgi uwsgi scgi; do echo "        ${t}_temp_path $dir/temp/$t;"; done
}

ng_setup() {
        local dir=$1 port=$2 cert=$3 key=$4
        mkdir -p "$dir/logs" "$dir/temp"
        {
                ng_head "$dir"
                echo "        server {"
                echo "                listen 127.0.0.1:$port ssl;"
                echo "                server_name localhost;"
                echo "                ssl_certificate $cert;"
                echo "                ssl_certificate_key $key;"
                echo "                location / { return 200 \"certherd\\n\"; }"
                echo "        }"
                echo "}"
        } >"$dir/nginx.conf"
}

ng() {
        local dir=$1
        shift
        nginx -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" "$@"
}

ng_start() {
        local dir=$1 i
        ng "$dir" -t >"$dir/logs/test.log" 2>&1 || { cat "$dir/logs/test.log" >&2; return 1; }
        nginx -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >>"$dir/logs/stderr.log" 2>&1 &
        NG_PID=$!
        for i in $(seq 100); do
                [[ -s $dir/nginx.pid && $(cat "$dir/nginx.pid") == "$NG_PID" ]] && return 0
                kill -0 "$NG_PID" 2>/dev/null || break
                sleep 0.05
        done
        tail -n 5 "$dir/logs/error.log" "$dir/logs/stderr.log" >&2
        return 1
}

ng_hook() {
        local dir=$1 hook=$2
        printf '#!/bin/bash\n# certherd exec hook: reload the test nginx gracefully\nexec %q -p %q -e %q -c %q -s reload\n' \
                "$(command -v nginx)" "$dir/" "$dir/logs/error.log" "$dir/nginx.conf" >"$hook"
        chmod +x "$hook"
}

ng_stop() {
        local dir=$1 pid i
        pid=$(cat "$dir/nginx.pid" 2>/dev/null) || return 0
        kill -QUIT "$pid" 2>/dev/null || return 0
        for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
        kill "$pid" 2>/dev/null
}
