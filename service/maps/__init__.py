"""Web maps of the chain (Folium pages): builders only, no HTTP; `service.api.maps` serves them."""
