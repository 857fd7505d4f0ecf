# fuzz.cmake: placeholder
