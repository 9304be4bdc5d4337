#!/usr/bin/env bash
# PostGIS side of the clustering benchmark (bench/cluster.sh runs it):
#   bench/cluster/postgis.sh OUT_DIR EPS_M
# Loads OUT_DIR/points.csv (id,lon,lat) into database ${PGDATABASE:-test}, projects the points
# to a metric plane and times ST_ClusterDBSCAN(geom, EPS_M, 1) OVER () (twice, with a
# CREATE TABLE AS; the same statement without the clustering is timed too, as the floor).
# Writes OUT_DIR/postgis_labels.csv (id,x,y,cid: the projected coordinates PostGIS clustered)
# and OUT_DIR/postgis.json.
#
# Projection (PROJ, default: azimuthal equidistant on the sphere of radius 6,371,008.8 m, centred
# on the data, so that planar distances differ from truce's haversine only by the projection's
# scale error, +0 .. +1e-4 over this region); set PROJ to compare another, e.g.
# PROJ=EPSG:32637 (UTM 37N on the WGS 84 ellipsoid: adds the ellipsoid-vs-sphere difference).
# Installs Debian's postgresql-15-postgis-3 if the extension is missing.
set -euo pipefail
OUT=${1:?OUT_DIR}
EPS_M=${2:?EPS_M}
DB=${PGDATABASE:-test}
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")

if ! "${PSQL[@]}" -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'" | grep -q 1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15-postgis-3 >/dev/null
fi
"${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null 2>&1 || "${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS postgis"
postgis=$("${PSQL[@]}" -tAc "SELECT postgis_lib_version() || ' (GEOS ' || postgis_geos_version() || ')'")

# Load and project (not timed).
"${PSQL[@]}" <<SQL
DROP TABLE IF EXISTS bench_points, bench_proj, bench_clusters, bench_floor;
CREATE UNLOGGED TABLE bench_points (id integer PRIMARY KEY, lon float8, lat float8);
\copy bench_points FROM '$OUT/points.csv' WITH (FORMAT csv, HEADER true)
SQL
if [ -z "${PROJ:-}" ]; then
  PROJ=$("${PSQL[@]}" -tAc "SELECT format('+proj=aeqd +lat_0=%s +lon_0=%s +R=6371008.8 +units=m +no_defs',
      round(((min(lat) + max(lat)) / 2)::numeric, 4), round(((min(lon) + max(lon)) / 2)::numeric, 4)) FROM bench_points")
fi
# Custom SRIDs (so that PostGIS caches the transformation): 990001 spherical longitude and
# latitude, as truce reads them; 990002 the projection.
case "$PROJ" in
  EPSG:*) src=4326 dst=${PROJ#EPSG:} ;;
  *) src=990001 dst=990002 ;;
esac
"${PSQL[@]}" <<SQL
DELETE FROM spatial_ref_sys WHERE srid IN (990001, 990002);
INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) VALUES
  (990001, 'truce-bench', 990001, NULL, '+proj=longlat +R=6371008.8 +no_defs'),
  (990002, 'truce-bench', 990002, NULL, '$PROJ');
SQL
transform="ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), $src), $dst)"
"${PSQL[@]}" <<SQL
CREATE UNLOGGED TABLE bench_proj AS SELECT id, $transform AS geom FROM bench_points ORDER BY id;
VACUUM ANALYZE bench_proj;
SQL

# Timed: the clustering alone, twice; then the same CREATE TABLE AS without it (the floor).
# Wall time from psql's \timing, CPU time of the backend from /proc/self/schedstat (ns on CPU).
timed() {
  local out
  out=$("${PSQL[@]}" -tA <<SQL
SET work_mem = '2GB';
DROP TABLE IF EXISTS $1;
SELECT 'cpu0 ' || split_part(pg_read_file('/proc/self/schedstat'), ' ', 1);
\timing on
CREATE UNLOGGED TABLE $1 AS $2;
\timing off
SELECT 'cpu1 ' || split_part(pg_read_file('/proc/self/schedstat'), ' ', 1);
SQL
)
  local ms cpu0 cpu1
  ms=$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1)
  cpu0=$(sed -n 's/^cpu0 //p' <<<"$out")
  cpu1=$(sed -n 's/^cpu1 //p' <<<"$out")
  echo "$ms $(( (cpu1 - cpu0) / 1000 ))"
}
runs_ms=() runs_cpu_ms=()
for i in 1 2; do
  read -r ms cpu_us < <(timed bench_clusters "SELECT id, ST_ClusterDBSCAN(geom, $EPS_M, 1) OVER () AS cid FROM bench_proj")
  runs_ms+=("$ms") runs_cpu_ms+=("$(awk "BEGIN { print $cpu_us / 1000 }")")
  echo "postgis: ST_ClusterDBSCAN run $i: $ms ms wall, ${runs_cpu_ms[-1]} ms CPU" >&2
done
read -r floor floor_cpu_us < <(timed bench_floor "SELECT id, 0 AS cid FROM bench_proj")

"${PSQL[@]}" <<SQL
\copy (SELECT c.id, ST_X(p.geom), ST_Y(p.geom), c.cid FROM bench_clusters c JOIN bench_proj p USING (id) ORDER BY c.id) TO '$OUT/postgis_labels.csv' WITH (FORMAT csv, HEADER true)
DROP TABLE IF EXISTS bench_points, bench_proj, bench_clusters, bench_floor;
DELETE FROM spatial_ref_sys WHERE srid IN (990001, 990002);
SQL
cat >"$OUT/postgis.json" <<JSON
{"runs_ms": [${runs_ms[0]}, ${runs_ms[1]}], "runs_cpu_ms": [${runs_cpu_ms[0]}, ${runs_cpu_ms[1]}], "floor_ms": $floor, "eps_m": $EPS_M, "proj": "$PROJ", "postgis": "$postgis"}
JSON
echo "postgis: $postgis, projection $PROJ; ST_ClusterDBSCAN ${runs_ms[0]} / ${runs_ms[1]} ms (CREATE TABLE AS floor $floor ms)" >&2
