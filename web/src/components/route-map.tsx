import { useEffect, useRef } from 'preact/hooks';
import 'leaflet/dist/leaflet.css';
import { circle, circleMarker, latLngBounds, map as leafletMap, polyline, tileLayer, type Map as LeafletMap } from 'leaflet';
import { siteSettings } from '../api';

export interface MapPoint {
  lat: number;
  lon: number;
  /** kept for callers' own lists; the picture itself has no tooltips (nothing focusable inside an image) */
  label: string;
}

/**
 * The parcel's route on a Leaflet map: the scans' positions joined in order, the last one
 * marked, and the destination geofence when the viewer may see it. Tiles come from MAP_TILE_URL
 * (GET /api/site); without one the route is drawn as plain vectors on a blank canvas, which works
 * offline. The map is a picture for sighted visitors: the same facts are in the timeline's text.
 */
export function RouteMap({ points, destination, label }: { points: MapPoint[]; destination?: { lat: number; lon: number; radiusM: number } | null; label: string }) {
  const element = useRef<HTMLDivElement>(null);
  const instance = useRef<LeafletMap | null>(null);

  useEffect(() => {
    let cancelled = false;
    void siteSettings()
      .catch(() => null)
      .then((site) => {
        if (cancelled || !element.current) return;
        instance.current?.remove();
        // a picture with drag and pinch, no focusable controls inside: it is announced as one image
        const m = leafletMap(element.current, { zoomControl: false, attributionControl: Boolean(site?.mapTiles), scrollWheelZoom: false, keyboard: false, boxZoom: false });
        instance.current = m;
        if (site?.mapTiles) tileLayer(site.mapTiles.url, { attribution: site.mapTiles.attribution, maxZoom: 19 }).addTo(m);
        // SVG stroke attributes take colours, not CSS variables: read the page's (the merchant's) colours
        const css = getComputedStyle(element.current);
        const brand = css.getPropertyValue('--brand').trim() || '#1f4e8c';
        const accent = css.getPropertyValue('--accent').trim() || '#0b7a53';
        const path = points.map((p) => [p.lat, p.lon] as [number, number]);
        if (path.length > 1) polyline(path, { color: brand, weight: 4, opacity: 0.85, interactive: false }).addTo(m);
        points.forEach((p, i) => {
          const last = i === points.length - 1;
          circleMarker([p.lat, p.lon], { radius: last ? 8 : 5, color: last ? accent : brand, fillOpacity: 0.9, weight: 2, interactive: false }).addTo(m);
        });
        if (destination) circle([destination.lat, destination.lon], { radius: destination.radiusM, color: accent, dashArray: '6 4', fillOpacity: 0.08, weight: 2, interactive: false }).addTo(m);
        const all = [...path, ...(destination ? [[destination.lat, destination.lon] as [number, number]] : [])];
        if (all.length === 1) m.setView(all[0], 15);
        else if (all.length > 1) m.fitBounds(latLngBounds(all), { padding: [24, 24], maxZoom: 16 });
        else m.setView([0, 0], 1);
        // tile attribution links stay reachable outside the picture's role
        element.current.removeAttribute('tabindex');
      });
    return () => {
      cancelled = true;
      instance.current?.remove();
      instance.current = null;
    };
  }, [JSON.stringify(points), JSON.stringify(destination)]);

  return <div ref={element} class="route-map" role="img" aria-label={label} />;
}

/** Great-circle distance in metres (the haversine formula), for "delivered 40 m from the destination". */
export function distanceMetres(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.sqrt(h));
}
