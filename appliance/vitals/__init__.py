"""System vitals: collection (psutil adapter), pure status/leak logic, background sampling."""
