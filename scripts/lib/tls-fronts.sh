# The TLS fronts the TLS benchmarks compare, written once for
# scripts/bench-tls-instructions.sh and scripts/bench-tls-rps.sh (sourced,
# not run): the certificate, nginx's configuration and Hitch's.

# tls_certificate DIR: an ECDSA P-256 certificate for `localhost`, made
# now, as DIR/cert.pem and DIR/key.pem, and both in DIR/hitch.pem (Hitch
# wants key and chain in one file).
tls_certificate() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$1/key.pem" -out "$1/cert.pem" 2>/dev/null
  cat "$1/key.pem" "$1/cert.pem" >"$1/hitch.pem"
}

# nginx_tls_conf DIR NAME PORT SERVER_BODY [HTTP_LINES]: one nginx process
# (`master_process off`, one worker) serving TLS + h2 on 127.0.0.1:PORT with
# DIR's certificate; SERVER_BODY goes in its `server` block and HTTP_LINES
# in its `http` block. Its pid, logs and temporary files live under DIR,
# named after NAME.
nginx_tls_conf() {
  local dir=$1 name=$2 port=$3 body=$4 http_lines=${5:-}
  mkdir -p "$dir/$name-tmp"
  cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/$name.pid;
error_log $dir/$name.error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 100000000;   # the default (1000) ends an h2 connection and stalls h2load
    client_body_temp_path $dir/$name-tmp;
    proxy_temp_path $dir/$name-tmp;
    fastcgi_temp_path $dir/$name-tmp;
    uwsgi_temp_path $dir/$name-tmp;
    scgi_temp_path $dir/$name-tmp;
    $http_lines
    server {
        listen 127.0.0.1:$port ssl http2;
        server_name localhost;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;   # 1.22's default has no TLSv1.3; the others negotiate it
        $body
    }
}
EOF
}

# nginx_cache_http DIR NAME ORIGIN_PORT and nginx_cache_body NAME: the
# `http` lines and the `server` body of nginx as a cache (zone NAME, under
# DIR) in front of 127.0.0.1:ORIGIN_PORT, every 200 kept for an hour (like
# the harness's VCL for Varnish).
nginx_cache_http() {
  mkdir -p "$1/$2-cache"
  echo "proxy_cache_path $1/$2-cache levels=1:2 keys_zone=$2:10m max_size=1g inactive=1h use_temp_path=off;
    upstream origin { server 127.0.0.1:$3; keepalive 16; }"
}
nginx_cache_body() {
  echo "location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\";
            proxy_cache $1; proxy_cache_valid 200 1h; }"
}

# hitch_conf DIR PORT VARNISH_PORT: Hitch on 127.0.0.1:PORT (one worker, ALPN
# h2 and http/1.1) sending PROXY v2 to Varnish's PROXY listener. As root, its
# workers drop to HITCH_USER (default _hitch): Hitch refuses to run them as root.
hitch_conf() {
  mkdir -p "$1/hitch-ocsp"
  cat <<EOF
frontend = "[127.0.0.1]:$2"
backend = "[127.0.0.1]:$3"
pem-file = "$1/hitch.pem"
workers = 1
daemon = off
write-proxy-v2 = on
alpn-protos = "h2, http/1.1"
ocsp-dir = "$1/hitch-ocsp"
EOF
  [[ $EUID == 0 ]] && echo "user = \"${HITCH_USER:-_hitch}\""
  return 0
}

# varnishd_args DIR PORT VCL: the arguments of Varnish in the foreground with
# a PROXY listener on 127.0.0.1:PORT, malloc storage and one thread pool,
# one per line (read them with mapfile).
varnishd_args() {
  printf '%s\n' -F -j none -n "$1/varnish" -a "127.0.0.1:$2,PROXY" -f "$3" -s malloc,256m -T none \
    -p thread_pools=1 -p thread_pool_min=50 -p thread_pool_max=500 -p cli_timeout=600 -p feature=+http2
}
