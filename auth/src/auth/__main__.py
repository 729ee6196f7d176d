from auth.app import SERVICE
from common.service import main

if __name__ == "__main__":
    main(SERVICE)
